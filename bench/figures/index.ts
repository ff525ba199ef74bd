import type { Figure } from './figure';
import { organizationQuery } from './organization-query';
import { folderListing, folderListing1000 } from './folder-listing';
import { deepPage } from './deep-page';
import { deepPageBesideTrash, listingBesideTrash } from './trash-beside';
import { uploadLatency } from './upload-latency';
import { uploadMemory } from './upload-memory';
import { renameMove } from './rename-move';
import { deleteFolder } from './delete-folder';
import { requestLogsDepth } from './request-logs-depth';
import { triggerAndWait, triggerWorkflow, workerThroughput } from './trigger-workflow';
import { search } from './search';
import { runEventsStream } from './run-events-stream';
import { historyCounts, historyGrowth } from './history';

/** Every figure, in the order of the table (and of the issue). */
export const figures: Figure[] = [
  folderListing,
  folderListing1000,
  deepPage,
  organizationQuery,
  uploadLatency,
  uploadMemory,
  renameMove,
  deleteFolder,
  requestLogsDepth,
  triggerWorkflow,
  triggerAndWait,
  workerThroughput,
  search,
  runEventsStream,
  // Last: their seeds (a trash and versions ten times the live tree) would otherwise weigh on the figures after them.
  listingBesideTrash,
  deepPageBesideTrash,
  // After everything: they grow the database by a million runs and a million entries.
  historyCounts,
  historyGrowth,
];
