import type { EntityManager } from 'typeorm';
import type { Queue } from '../../queue/queue';
import type { StorageDriver } from '../backend/driver';
import { extractPendingTextsJob } from '../events/extract-text';
import { extractText, indexableText, textFormat, UnreadableFile } from './extract-text';
import type { PendingText, TextStatus, TextStore } from './text-store';

/** What one extraction did. `skipped`: the file is gone or has other bytes by now (whose own row is read instead). */
export interface ExtractionOutcome {
  entryId: string;
  status: TextStatus | 'skipped';
  /** Why it FAILED, for the log. */
  reason?: string;
  /** Characters of text kept. */
  chars?: number;
}

/** What a drain tells its job (for the log). */
export interface DrainReport {
  /** A row read: its outcome (FAILED: the reader refused the bytes). */
  read(outcome: ExtractionOutcome): void;
  /** A read that failed on a storage or database error; `willRetry` false after the last attempt. */
  failed(entryId: string, error: unknown, willRetry: boolean): void;
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

/** Rows a drain takes at a time, and how many batches one drain reads before it hands on to a new job. */
const DRAIN_BATCH = 5;
const DRAIN_BATCHES = 4;
/** How long a drain holds the rows it took: longer than reading a file of TEXT_EXTRACTION_MAX_BYTES takes. */
const DRAIN_LEASE_SECONDS = 300;
/** Reads of one file's bytes that may fail on a storage or database error (the first and five retries), DELAY·2ⁿ apart. */
const MAX_READ_ATTEMPTS = 6;
const RETRY_DELAY_SECONDS = 10;

/**
 * The text of files, for search: a file given bytes (an upload, an overwrite, a restored version;
 * a rename or move changes no bytes and asks for nothing) gets a text row in the same commit,
 * NOT_TEXT when its type says there is no text to read (an image, an archive), else PENDING. The
 * PENDING rows are the work list: a drain (the `storage.extract-pending-texts` job, kicked after
 * such a commit and sent periodically) reads them after the upload has answered. `alloy storage
 * reindex` reads a whole organization again.
 */
export class TextIndex {
  /** A kick's job insert under way (kicks meanwhile coalesce into one more after it). */
  private kicking: Promise<void> | null = null;
  private kickAgain = false;

  constructor(
    private readonly texts: TextStore,
    private readonly driver: StorageDriver,
    private readonly queue: Queue,
  ) {}

  /** Larger files are not read (FAILED, with the reason); TEXT_EXTRACTION_MAX_BYTES. */
  maxBytes = DEFAULT_TEXT_EXTRACTION_MAX_BYTES;

  /** The text status new bytes of this type and name start with: PENDING when there is text to read. */
  statusOf(contentType: string, name: string): 'PENDING' | 'NOT_TEXT' {
    return textFormat(contentType, name) ? 'PENDING' : 'NOT_TEXT';
  }

  /**
   * Inside `tx`, for a file given new bytes: its text row (statusOf). True when the text is to be
   * read: then `kick()` once `tx` has committed.
   */
  async schedule(
    tx: EntityManager,
    file: { id: string; organizationId: string; etag: string | null; name: string; contentType: string | null },
  ): Promise<boolean> {
    const status = this.statusOf(file.contentType ?? '', file.name);
    await this.texts.schedule(tx, { id: file.id, organizationId: file.organizationId, etag: file.etag! }, status);
    return status === 'PENDING';
  }

  /**
   * After a commit that wrote PENDING rows: a drain job, so that they are read now rather than at
   * the next periodic drain. Not awaited by the caller, and a failed send is only late text: the
   * rows are the work list, and the periodic drain reads them. Kicks while one is being sent make
   * one more send after it (a drain that started before this commit may have missed its rows),
   * so an upload costs at most one job insert and a burst of them a few.
   */
  kick(): void {
    if (this.kicking) {
      this.kickAgain = true;
      return;
    }
    this.kicking = extractPendingTextsJob
      .send(this.queue, {})
      .catch(() => undefined)
      .then(() => {
        this.kicking = null;
        if (this.kickAgain) {
          this.kickAgain = false;
          this.kick();
        }
      });
  }

  /**
   * The drain job's work: takes PENDING rows a batch at a time and reads them, until none is left
   * or DRAIN_BATCHES batches were read (then a new job goes on, so that one job never runs long
   * and a process's shutdown never waits long for it). A storage or database error leaves the
   * row for a later drain, RETRY_DELAY_SECONDS·2ⁿ later, MAX_READ_ATTEMPTS times at most (then it
   * stays PENDING until a reindex). Outcomes and errors go to `report`, for the log.
   */
  async drain(report: DrainReport): Promise<void> {
    for (let batch = 0; batch < DRAIN_BATCHES; batch++) {
      const rows = await this.texts.claim(DRAIN_BATCH, DRAIN_LEASE_SECONDS, MAX_READ_ATTEMPTS);
      for (const row of rows) await this.read(row, report);
      if (rows.length < DRAIN_BATCH) return;
    }
    this.kick();
  }

  private async read(row: PendingText, report: DrainReport): Promise<void> {
    try {
      report.read(await this.extract(row.entryId, row.etag));
    } catch (error) {
      const willRetry = row.attempts < MAX_READ_ATTEMPTS;
      report.failed(row.entryId, error, willRetry);
      // The next try is a later drain's; if this update fails too, the lease holds the row until then.
      if (willRetry) {
        await this.texts.retryLater(row.entryId, row.etag, RETRY_DELAY_SECONDS * 2 ** (row.attempts - 1)).catch(() => undefined);
      }
    }
  }

  /**
   * Reads the text of the file's bytes `etag` (null: whatever it has now) and stores it with its
   * status. A file its reader refuses is FAILED, with the reason in the outcome; a storage or
   * database error is thrown (a drain tries the row again later; a reindex fails).
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
