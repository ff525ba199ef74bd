import { graphqlLoad } from './figure';
import { mustQuery } from '../lib/graphql';
import { assertClean, median, sequential } from '../lib/load';
import { tablesExist, withClient } from '../lib/postgres';
import { SEARCH_TABLES, seedSearchRows } from '../seed/tables';
import { Figure, fmt, NotApplicable } from './figure';

/** Seed sizes per organization (BENCH_SEARCH_FILES, BENCH_SEARCH_TEXTS for a quicker run) and how many organizations. */
const FILES = () => Number(process.env.BENCH_SEARCH_FILES ?? 100_000);
const TEXTS = () => Number(process.env.BENCH_SEARCH_TEXTS ?? 10_000);
const ORGANIZATIONS = 10;
/** Files uploaded for the extraction figure. */
const EXTRACTION_FILES = () => Number(process.env.BENCH_EXTRACTION_FILES ?? 300);

/** A deterministic pseudo-random generator (mulberry32), so every run seeds the same words. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 20,000 made-up words of 2 to 4 syllables, used as text uses words: by Zipf's law (the word of
 * rank r about 1/r as often as the most common one), so that, as in real text, a few words are in
 * every document and most are in few. Names take two words by the same law; 1,000 paragraphs of
 * about 500 bytes are drawn from it.
 */
export function corpus(): { vocabulary: string[]; paragraphs: string[]; draw: () => string } {
  const next = random(21);
  const syllables = [
    'ka',
    'lo',
    'mer',
    'ti',
    'va',
    'su',
    'ren',
    'dor',
    'pi',
    'an',
    'el',
    'qua',
    'rev',
    'nu',
    'sto',
    'bri',
    'gal',
    'om',
    'tur',
    'xe',
  ];
  const words = new Set<string>();
  while (words.size < 20_000) {
    const n = 2 + Math.floor(next() * 3);
    let word = '';
    for (let i = 0; i < n; i++) word += syllables[Math.floor(next() * syllables.length)];
    words.add(word);
  }
  const vocabulary = [...words];
  const cumulative: number[] = [];
  let sum = 0;
  for (let rank = 1; rank <= vocabulary.length; rank++) cumulative.push((sum += 1 / rank));
  const draw = () => {
    const target = next() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    return vocabulary[lo];
  };
  const paragraphs: string[] = [];
  for (let p = 0; p < 1000; p++) {
    const parts: string[] = [];
    let length = 0;
    while (length < 500) {
      const word = draw();
      parts.push(word);
      length += word.length + 1;
    }
    paragraphs.push(`${parts.join(' ')}.`);
  }
  return { vocabulary, paragraphs, draw };
}

const SEARCH = `query Search($q: String!) {
  search(query: $q, first: 20) { totalCount edges { node { score snippet node { id name path } } } }
}`;

/**
 * Search in one organization of 100,000 named files, 10,000 of them with about 5 KB of text,
 * beside 9 other organizations of the same size (rows seeded by SQL): p50 and p99 of a two-word
 * prefix query at one connection, req/s at 20; and how many uploaded files a second the
 * extraction jobs read (gateway and worker both run them).
 */
export const search: Figure = {
  id: 'search',
  title: 'search: 100,000 named files + 10,000 with ~5 KB text in one org beside 9 such orgs; p50/p99 at 1 connection, req/s at 20',
  target: 'p50 < 30 ms',
  requires: ['Query.search', 'File.textStatus'],
  async run(ctx) {
    const missing = await tablesExist(ctx.databaseUrl, SEARCH_TABLES);
    if (missing.length) throw new NotApplicable(`seeding needs tables ${missing.join(', ')}; adapt seedSearchRows in bench/seed/tables.ts`);
    const { vocabulary, paragraphs, draw } = corpus();
    // Names: two words by the same law (a name list seeded once, 5,000 names, reused with a number).
    const names = Array.from({ length: 5000 }, () => `${draw()} ${draw()}`);
    const files = FILES();
    const texts = TEXTS();
    const started = Date.now();
    // The organization's root exists before the rows go in below it.
    await mustQuery(ctx.gateway.url, ctx.apiKey, '{ folder(path: "/") { id } }');
    const others: string[] = [];
    for (let i = 1; i < ORGANIZATIONS; i++) others.push((await ctx.cli<{ orgId: string }>(['org', 'create', `bench-search-${i}`])).orgId);
    await withClient(ctx.databaseUrl, (db) =>
      seedSearchRows(db, { orgIds: [ctx.orgId, ...others], files, withText: texts, names, paragraphs }),
    );
    const seedSeconds = (Date.now() - started) / 1000;
    ctx.log(`seeded ${ORGANIZATIONS} organizations of ${files} files (${texts} with text) in ${seedSeconds.toFixed(1)} s`);

    // A word and the start of another, as someone types them: the words of rank 1,000 and 5,000.
    const q = `${vocabulary[999]} ${vocabulary[4999].slice(0, 4)}`;
    // A very common word (rank 3): a broad query that matches most texts, the worst case of ranking.
    const broad = vocabulary[2];
    const probe = await mustQuery(ctx.gateway.url, ctx.apiKey, SEARCH, { q });
    const total = probe.search.totalCount as number;
    const body = JSON.stringify({ query: SEARCH, variables: { q } });
    const url = `${ctx.gateway.url}/graphql`;
    const headers = { 'content-type': 'application/json', 'api-key': ctx.apiKey };
    await sequential(url, { method: 'POST', headers, body, duration: 2 });
    const single = [];
    for (let round = 0; round < ctx.rounds; round++)
      single.push(await sequential(url, { method: 'POST', headers, body, duration: ctx.duration }));
    assertClean('search, 1 connection', single);
    const p50 = median(single.map((r) => r.p50));
    const p99 = median(single.map((r) => r.p99));
    const loaded = [];
    for (let round = 0; round < ctx.rounds; round++) loaded.push(await graphqlLoad(ctx, ctx.gateway.url, body));
    assertClean(`search, ${ctx.connections} connections`, loaded);
    const rps = median(loaded.map((r) => r.rps));

    const broadTotal = (await mustQuery(ctx.gateway.url, ctx.apiKey, SEARCH, { q: broad })).search.totalCount as number;
    const broadBody = JSON.stringify({ query: SEARCH, variables: { q: broad } });
    const broadRun = await sequential(url, { method: 'POST', headers, body: broadBody, duration: ctx.duration });
    assertClean('broad search', [broadRun]);

    const extraction = await extractionThroughput(ctx, paragraphs);
    return {
      gateway: `p50 ${fmt.ms(p50)}, p99 ${fmt.ms(p99)}; ${fmt.rps(rps)} at ${ctx.connections}`,
      baseline: `extraction ${extraction.perSecond.toFixed(0)} files/s`,
      ratio: 'n/a',
      met: p50 < 30,
      note:
        `search: ${ORGANIZATIONS} organizations × ${files.toLocaleString('en-US')} file rows (${texts.toLocaleString('en-US')} with ~5 KB text each, tsvector as the job stores it) seeded by SQL in ${seedSeconds.toFixed(0)} s; ` +
        `query "${q}" (two word prefixes, first: 20 with totalCount and snippets) matches ${total} entries of the organization; ` +
        `the broad query "${broad}" (one of the most common words, ${broadTotal} matches, each ranked): p50 ${fmt.ms(broadRun.p50)}, p99 ${fmt.ms(broadRun.p99)}. ` +
        `Extraction: ${extraction.files} uploaded files (${extraction.pdfs} PDFs of 2 pages, the rest ~5 KB Markdown) read by the jobs of the gateway and the worker, ${extraction.seconds.toFixed(1)} s from the first upload to the last INDEXED.`,
    };
  },
};

/** Uploads files with text (some PDFs) and times how long until every one is INDEXED. */
async function extractionThroughput(
  ctx: Parameters<Figure['run']>[0],
  paragraphs: string[],
): Promise<{ files: number; pdfs: number; seconds: number; perSecond: number }> {
  // pdf-lib is a devDependency (the tests make PDFs with it too); the bench runs in a checkout.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PDFDocument, StandardFonts } = require('pdf-lib') as typeof import('pdf-lib');
  const pdf = async (i: number) => {
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    for (let page = 0; page < 2; page++) {
      const p = doc.addPage();
      const words = paragraphs[(i * 2 + page) % paragraphs.length].split(' ');
      for (let line = 0; line * 10 < words.length; line++)
        p.drawText(words.slice(line * 10, line * 10 + 10).join(' '), { x: 40, y: 780 - line * 16, size: 11, font });
    }
    return Buffer.from(await doc.save());
  };
  const count = EXTRACTION_FILES();
  const pdfs = Math.floor(count / 5);
  const bodies: Array<{ name: string; bytes: Buffer; type: string }> = [];
  for (let i = 0; i < count; i++) {
    if (i < pdfs) bodies.push({ name: `doc-${i}.pdf`, bytes: await pdf(i), type: 'application/pdf' });
    else
      bodies.push({
        name: `note-${i}.md`,
        bytes: Buffer.from(Array.from({ length: 10 }, (_, k) => paragraphs[(i * 10 + k) % paragraphs.length]).join('\n\n')),
        type: 'text/markdown',
      });
  }
  const upload = async (file: { name: string; bytes: Buffer; type: string }) => {
    const form = new FormData();
    form.append(
      'operations',
      JSON.stringify({
        query: 'mutation($f: Upload!) { uploadFile(folder: "/bench-extraction", file: $f) { id } }',
        variables: { f: null },
      }),
    );
    form.append('map', JSON.stringify({ 0: ['variables.f'] }));
    form.append('0', new Blob([file.bytes], { type: file.type }), file.name);
    const res = await fetch(`${ctx.gateway.url}/graphql`, { method: 'POST', headers: { 'api-key': ctx.apiKey }, body: form });
    const answer = (await res.json()) as { errors?: unknown };
    if (answer.errors) throw new Error(`upload failed: ${JSON.stringify(answer.errors)}`);
  };
  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < bodies.length) await upload(bodies[next++]);
    }),
  );
  const indexed = async () =>
    withClient(ctx.databaseUrl, async (db) => {
      const { rows } = await db.query<{ n: number; failed: number }>(
        `SELECT count(*) FILTER (WHERE t.status = 'INDEXED')::int AS n, count(*) FILTER (WHERE t.status IN ('FAILED', 'NOT_TEXT'))::int AS failed
           FROM storage_texts t JOIN storage_entries e ON e.id = t.entry_id WHERE e.organization_id = $1 AND e.name ~ '^(doc|note)-'`,
        [ctx.orgId],
      );
      return rows[0];
    });
  for (;;) {
    const { n, failed } = await indexed();
    if (failed) throw new Error(`${failed} bench files were not indexed`);
    if (n >= count) break;
    if (Date.now() - started > 600_000) throw new Error(`only ${n} of ${count} files indexed after 10 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const seconds = (Date.now() - started) / 1000;
  return { files: count, pdfs, seconds, perSecond: count / seconds };
}
