import { defineJob } from '../../queue/job';

/** How often every process sends the drain, for rows whose kick was lost (a crash between commit and kick) or that wait for a retry. */
export const EXTRACT_PENDING_TEXTS_EVERY_SECONDS = 30;

/**
 * Reads the text of files whose text row is PENDING (TextIndex.drain): kicked after the commit
 * that wrote such rows (an upload, a restored version) and sent every
 * EXTRACT_PENDING_TEXTS_EVERY_SECONDS. The rows are the work list, so a job carries no data and a
 * lost job loses nothing. Policy `short`: one job waits at most (a kick sent while one waits is
 * that one), while another process may be draining (drains take rows by lease, never the same).
 * A file its reader refuses is not an error (its textStatus is FAILED); a storage or database
 * error leaves the row for a later drain (read_after, attempts).
 */
export const extractPendingTextsJob = defineJob<object>({
  name: 'storage.extract-pending-texts',
  options: { policy: 'short', retryLimit: 0 },
  work: { batchSize: 1, pollingIntervalSeconds: 0.5 },
  everySeconds: EXTRACT_PENDING_TEXTS_EVERY_SECONDS,
});
