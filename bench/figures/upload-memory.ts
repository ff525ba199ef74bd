import { randomBytes } from 'node:crypto';
import type { ChildServer } from '../lib/child';
import { multipartUpload } from '../lib/graphql';
import { Figure, fmt } from './figure';

const UPLOADS = 16;
const SIZE = 10_000_000; // 10 MB, under the 10 MiB default limit

/**
 * Peak resident memory of a server process while 16 uploads of 10 MB run at once, minus its
 * resident memory just before: the kernel's peak counter (VmHWM, reset through clear_refs) and
 * a 5 ms sampler of VmRSS, whichever is higher.
 */
async function peakAboveIdle(server: ChildServer, url: string, apiKey: string): Promise<number> {
  const bodies = Array.from({ length: UPLOADS }, (_, i) => multipartUpload('/bench-memory', `ten-megabytes-${i}.bin`, randomBytes(SIZE)));
  await new Promise((r) => setTimeout(r, 500));
  const idle = server.memory().rss;
  server.resetPeak();
  let sampled = idle;
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, server.memory().rss);
  }, 5);
  try {
    const answers = await Promise.all(
      bodies.map(({ body, contentType }) =>
        fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': contentType, 'api-key': apiKey }, body }).then(
          async (res) => ({ status: res.status, text: await res.text() }),
        ),
      ),
    );
    const failed = answers.filter((a) => a.status !== 200 || a.text.includes('"errors"'));
    if (failed.length) throw new Error(`${failed.length} of ${UPLOADS} uploads failed: ${failed[0].text.slice(0, 300)}`);
  } finally {
    clearInterval(sampler);
  }
  const { hwm } = server.memory();
  return Math.max(hwm, sampled) - idle;
}

export const uploadMemory: Figure = {
  id: 'upload-memory',
  title: 'peak RSS while 16 uploads of 10 MB run at once, above idle',
  target: '≤ 100 MB above idle',
  requires: ['Mutation.uploadFile'],
  async run(ctx) {
    const baseline = await ctx.startBaseline('upload-to-disk');
    const b = await peakAboveIdle(baseline, baseline.url, ctx.apiKey);
    const g = await peakAboveIdle(ctx.gateway, ctx.gateway.url, ctx.apiKey);
    return { gateway: fmt.mb(g), baseline: fmt.mb(b), ratio: '—', met: g <= 100 * 1024 * 1024 };
  },
};
