import { randomBytes } from 'node:crypto';
import { multipartUpload } from '../lib/graphql';
import type { ChildServer } from '../lib/child';
import { compareLatency, cpuCell, sequential } from '../lib/load';
import { Figure, fmt } from './figure';

/** One client uploading 1 MB again and again (the same name: each upload overwrites the last). */
export const uploadLatency: Figure = {
  id: 'upload-1mb',
  title: 'upload of 1 MB, p50 latency (1 connection)',
  target: '≤ 1.5× baseline (c)',
  requires: ['Mutation.uploadFile'],
  async run(ctx) {
    const baseline = await ctx.startBaseline('upload-to-disk');
    const { body, contentType } = multipartUpload('/bench-upload', 'one-megabyte.bin', randomBytes(1024 * 1024));
    const request = (server: ChildServer, duration = ctx.duration) =>
      sequential(
        `${server.url}/graphql`,
        { method: 'POST', headers: { 'content-type': contentType, 'api-key': ctx.apiKey }, body, duration },
        server,
      );
    const {
      comparison,
      gatewayP50: g,
      baselineP50: b,
      ratio,
      gatewayCpuUs,
      baselineCpuUs,
    } = await compareLatency(
      (duration) => request(ctx.gateway, duration),
      (duration) => request(baseline, duration),
      ctx.rounds,
    );
    const rounds = (side: typeof comparison.gateway) => side.map((r) => r.p50.toFixed(1)).join('/');
    return {
      gateway: `${fmt.ms(g)}; ${cpuCell(gatewayCpuUs)}`,
      baseline: `${fmt.ms(b)}; ${cpuCell(baselineCpuUs)}`,
      ratio: fmt.times(ratio),
      met: ratio <= 1.5,
      note: `upload: p50 of sequential requests timed by the client (high-resolution clock), median of ${ctx.rounds} interleaved rounds (gateway ${rounds(comparison.gateway)} ms, baseline (c) ${rounds(comparison.baseline)} ms); the ratio is the median of the per-round ratios. Each gateway upload overwrites the last (the old content kept as a version); baseline (c) inserts a new row.`,
    };
  },
};
