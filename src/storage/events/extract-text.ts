import { defineJob } from '../../queue/job';

export interface ExtractTextJob {
  entryId: string;
  /** The bytes to read: a job for bytes the file no longer has does nothing. */
  etag: string;
}

/**
 * Reads a file's text for search after the upload that stored it committed (sent in its
 * transaction). Retried on storage or database errors; a file its reader refuses is not an error
 * (its textStatus is FAILED).
 */
export const extractTextJob = defineJob<ExtractTextJob>({
  name: 'storage.extract-text',
  options: { retryLimit: 5, retryDelay: 10, retryBackoff: true },
  // pg-boss waits the polling interval after every fetch, even with a backlog: with 20 jobs a
  // fetch, a process reads up to 40 files a second after a bulk upload (4 a fetch read 8).
  work: { batchSize: 20, pollingIntervalSeconds: 0.5 },
});
