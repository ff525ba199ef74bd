import type { EntityManager } from 'typeorm';
import type { Queue } from '../../queue/queue';
import type { StorageDriver } from '../backend/driver';
import { extractTextJob } from '../events/extract-text';
import { extractText, indexableText, textFormat, UnreadableFile } from './extract-text';
import type { TextStatus, TextStore } from './text-store';

/** What one extraction did. `skipped`: the file is gone or has other bytes by now (a newer job reads those). */
export interface ExtractionOutcome {
  entryId: string;
  status: TextStatus | 'skipped';
  /** Why it FAILED, for the log. */
  reason?: string;
  /** Characters of text kept. */
  chars?: number;
}

export interface ReindexProgress {
  start(totalFiles: number): void;
  advance(outcome: ExtractionOutcome): void;
  stop(): void;
}

export interface ReindexSummary {
  files: number;
  indexed: number;
  notText: number;
  failed: number;
  seconds: number;
  failures: Array<{ entryId: string; reason: string }>;
}

async function readAll(driver: StorageDriver, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await driver.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const DEFAULT_TEXT_EXTRACTION_MAX_BYTES = 10 * 1024 * 1024;

const REINDEX_PAGE = 200;
const REINDEX_CONCURRENCY = 2;

/**
 * The text of files, for search: asked for in the transaction that gives a file its bytes
 * (an upload or an overwrite; a rename or move changes no bytes and asks for nothing), read by a
 * durable job after the upload has answered, and read again for a whole organization by
 * `alloy storage reindex`.
 */
export class TextIndex {
  constructor(
    private readonly texts: TextStore,
    private readonly driver: StorageDriver,
    private readonly queue: Queue,
  ) {}

  /** Larger files are not read (FAILED, with the reason); TEXT_EXTRACTION_MAX_BYTES. */
  maxBytes = DEFAULT_TEXT_EXTRACTION_MAX_BYTES;

  /**
   * Inside `tx`, for a file given new bytes: its text is PENDING, and a job reads it once `tx` has
   * committed (the job exists only if `tx` commits). A type whose text is not read (an image, an
   * archive) is NOT_TEXT at once, with no job.
   */
  async schedule(
    tx: EntityManager,
    file: { id: string; organizationId: string; etag: string | null; name: string; contentType: string | null },
  ): Promise<void> {
    const entry = { id: file.id, organizationId: file.organizationId, etag: file.etag! };
    if (!textFormat(file.contentType ?? '', file.name)) return this.texts.schedule(tx, entry, 'NOT_TEXT');
    await this.texts.schedule(tx, entry, 'PENDING');
    await extractTextJob.send(this.queue, { entryId: file.id, etag: file.etag! }, { tx });
  }

  /**
   * Reads the text of the file's bytes `etag` (null: whatever it has now) and stores it with its
   * status. A file its reader refuses is FAILED, with the reason in the outcome; a storage or
   * database error is thrown, for the job to be retried.
   */
  async extract(entryId: string, etag: string | null): Promise<ExtractionOutcome> {
    const file = await this.texts.source(entryId, etag);
    if (!file) return { entryId, status: 'skipped' };
    const format = textFormat(file.contentType, file.name);
    let outcome: ExtractionOutcome;
    let body: string | null = null;
    if (!format) {
      outcome = { entryId, status: 'NOT_TEXT' };
    } else if (file.size > this.maxBytes) {
      outcome = { entryId, status: 'FAILED', reason: `${file.size} bytes is over TEXT_EXTRACTION_MAX_BYTES (${this.maxBytes})` };
    } else {
      try {
        body = indexableText(await extractText(format, await readAll(this.driver, file.objectKey)));
        outcome = { entryId, status: 'INDEXED', chars: body.length };
      } catch (error) {
        if (!(error instanceof UnreadableFile)) throw error;
        outcome = { entryId, status: 'FAILED', reason: error.message };
      }
    }
    const kept = await this.texts.store(entryId, file.etag, outcome.status as TextStatus, body, outcome.reason ?? null);
    return kept ? outcome : { entryId, status: 'skipped' };
  }

  /** The `textStatus` of these files (absent: uploaded before search existed and not reindexed since). */
  statuses(organizationId: string, ids: readonly string[]): Promise<Map<string, TextStatus>> {
    return this.texts.statuses(organizationId, ids);
  }

  /**
   * Reads the text of every file of the organization again, here and now (after a library
   * upgrade, or for files uploaded before search existed). A file keeps its old text until its
   * new text is stored, so search goes on meanwhile.
   */
  async reindex(organizationId: string, progress?: ReindexProgress): Promise<ReindexSummary> {
    const started = Date.now();
    const summary: ReindexSummary = { files: 0, indexed: 0, notText: 0, failed: 0, seconds: 0, failures: [] };
    progress?.start(await this.texts.fileCount(organizationId));
    try {
      let after: string | null = null;
      for (;;) {
        const page = await this.texts.filePage(organizationId, after, REINDEX_PAGE);
        if (!page.length) break;
        after = page[page.length - 1].id;
        let next = 0;
        const work = async () => {
          while (next < page.length) {
            const { id } = page[next++];
            await this.texts.ensure(id);
            const outcome = await this.extract(id, null);
            summary.files++;
            if (outcome.status === 'INDEXED') summary.indexed++;
            else if (outcome.status === 'NOT_TEXT') summary.notText++;
            else if (outcome.status === 'FAILED') {
              summary.failed++;
              summary.failures.push({ entryId: id, reason: outcome.reason ?? 'unknown' });
            }
            progress?.advance(outcome);
          }
        };
        await Promise.all(Array.from({ length: REINDEX_CONCURRENCY }, work));
      }
    } finally {
      progress?.stop();
    }
    summary.seconds = (Date.now() - started) / 1000;
    return summary;
  }
}
