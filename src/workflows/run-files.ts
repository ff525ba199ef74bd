import { DEFAULT_HTTP_TIMEOUT_MS, WorkflowDefinition } from './definition';

/** At most this many files per run (`files` of callTeammate and triggerWorkflow). */
export const MAX_RUN_FILES = 20;

/**
 * A signed file link handed to a step outlives the rest of the run by this much: every step still
 * to come may take its whole timeout, and a worker that is lost hands the run to another, which
 * signs new links when it runs the step again.
 */
export const FILE_LINK_MARGIN_SECONDS = 15 * 60;

/** One file as a run was given it at start; `objectKey` names the very bytes (an object key is per upload). */
export interface RunFileSnapshot {
  id: string;
  path: string;
  name: string;
  contentType: string;
  size: number;
  md5: string;
  etag: string;
  objectKey: string;
}

/** The `files` column of a run: the snapshots, and the base URL of the gateway the call came through (for disk links). */
export interface StoredRunFiles {
  baseUrl: string;
  items: RunFileSnapshot[];
}

/** A file as steps see it in their context (`files`). */
export interface ContextFile {
  id: string;
  path: string;
  name: string;
  contentType: string;
  size: number;
  md5: string;
  downloadUrl: string;
}

/**
 * The storage a run needs: the files at paths, and links to the bytes a snapshot names. Storage
 * implements it (FileSnapshots), the composition root hands it over, so that workflows never
 * reach into storage's tables.
 */
export interface RunFileSource {
  /** The files at these absolute paths as they are now, in order; NOT_FOUND for a path that is no file of the organization. */
  snapshot(organizationId: string, paths: readonly string[]): Promise<RunFileSnapshot[]>;
  /** A URL that serves the snapshot's bytes without an API key until `expiresAt`. */
  downloadUrl(file: RunFileSnapshot, baseUrl: string, expiresAt: Date): Promise<string>;
}

/**
 * How long the run can still take from `stepId` on: the timeouts of that step and of every step
 * after it along `next` (a transform takes no measurable time), plus FILE_LINK_MARGIN_SECONDS.
 */
export function remainingRunSeconds(definition: WorkflowDefinition, stepId: string): number {
  let seconds = FILE_LINK_MARGIN_SECONDS;
  const seen = new Set<string>();
  for (let id: string | undefined = stepId; id !== undefined && !seen.has(id);) {
    seen.add(id);
    const step: WorkflowDefinition['steps'][string] | undefined = definition.steps[id];
    if (!step) break;
    if (step.type === 'http') seconds += Math.ceil((step.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS) / 1000);
    id = step.next;
  }
  return seconds;
}

/** The run's files as its steps see them, each with a link signed now, valid for the rest of the run. */
export async function contextFiles(
  source: RunFileSource,
  stored: StoredRunFiles,
  definition: WorkflowDefinition,
  stepId: string,
): Promise<ContextFile[]> {
  const expiresAt = new Date(Date.now() + remainingRunSeconds(definition, stepId) * 1000);
  return Promise.all(
    stored.items.map(async (file) => ({
      id: file.id,
      path: file.path,
      name: file.name,
      contentType: file.contentType,
      size: file.size,
      md5: file.md5,
      downloadUrl: await source.downloadUrl(file, stored.baseUrl, expiresAt),
    })),
  );
}
