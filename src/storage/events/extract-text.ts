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
  work: { batchSize: 4, pollingIntervalSeconds: 0.5 },
});
