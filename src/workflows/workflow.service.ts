import type { RunAnnouncer } from './run-events';
import { isUuid, uuidv7 } from '../db/ids';
import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { selectList } from '../db/columns';
import { CreatedAtPosition, oldestFirstList, Page, pageOf, PageQuery } from '../db/page';
import { statement, StatementRunner } from '../db/statements';
import { AppError, badInput, ErrorCode, notFound } from '../graphql/errors';
import { DefinitionError, validateDefinition, ValidatedDefinition } from './definition';
import { newSigningSecret } from './signing';
import { CallbackQueue, checkedCallbackUrl } from './run-callbacks';
import { PgError, pgCode } from '../db/postgres-errors';
import { MAX_RUN_FILES, RunFileSource, StoredRunFiles } from './run-files';
import { RunChannel, RunStateMachine } from './run-state';
import { runTimeOf } from './run-partitions';
import { RUN_TYPE_COLUMNS } from './workflow-run.row';
import { WorkflowRun, WorkflowRunStatus } from './workflow-run.type';
import { WORKFLOW_TYPE_COLUMNS } from './workflow.row';
import type { Workflow } from './workflow.type';

export const MAX_PAYLOAD_BYTES = 1024 * 1024;
export const IDEMPOTENCY_WINDOW_HOURS = 24;

export interface StartRunRequest {
  organizationId: string;
  /** The workflow to start; for a teammate's run (`teammateId` set) its workflow is used instead. */
  workflowId?: string | null;
  payload: unknown;
  idempotencyKey?: string | null;
  channel: RunChannel;
  teammateId?: string | null;
  apiKeyId?: string | null;
  /** POSTed the run's end (http or https; anything else is BAD_USER_INPUT and starts nothing). */
  callbackUrl?: string | null;
  /** The run this one reruns. */
  rerunOf?: string | null;
  /** A teammate's conversation to continue; a teammate's call without one starts a conversation. */
  conversationId?: string | null;
  /** Absolute paths of files in the organization's storage to hand to the run (at most MAX_RUN_FILES). */
  files?: readonly string[] | null;
  /** The gateway's base URL as the caller reached it: the disk driver's file links point there. */
  baseUrl?: string;
}

export interface CreatedWorkflow {
  workflow: Workflow;
  /** Why the stored workflow cannot be started, or null when it can. */
  notStartableBecause: string | null;
  /** Signs its http steps' requests; shown to the creator once (`alloy workflow create`). */
  signingSecret: string;
}

/** JSON with object keys sorted, so that equal payloads hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A checked definition as the create and update statements take it: name, start step, startable, the definition. */
export const definitionValues = (checked: ValidatedDefinition) => [
  checked.definition.name,
  checked.startStep,
  checked.startable,
  JSON.stringify(checked.definition),
];

export const workflowNotFound = () => new AppError(ErrorCode.WORKFLOW_NOT_FOUND, 'Workflow not found');

/** What a Workflow is read with (never the signing secrets). */
const WORKFLOW = selectList(WORKFLOW_TYPE_COLUMNS);

/** Pages of the organization's live workflows (PageQuery: $1 organization, $2 size + 1, $3 $4 the position after). */
const listStatement = oldestFirstList('workflows.list', 'workflows', WORKFLOW_TYPE_COLUMNS, 'organization_id = $1 AND deleted_at IS NULL');

const SQL = {
  /**
   * The workflow and its version 1 in one statement: a workflow never exists without the
   * version its runs read their definition from. No row: there is no such organization.
   */
  create: statement(
    'workflows.create',
    `WITH created AS (
       INSERT INTO workflows (organization_id, name, start_step, startable, definition, signing_secret)
       SELECT id, $2::text, $3::text, $4::boolean, $5::json, $6::text FROM organizations WHERE id = $1
       RETURNING *
     ), first_version AS (
       INSERT INTO workflow_versions (workflow_id, version, definition, start_step, startable, created_at)
       SELECT id, version, definition, start_step, startable, created_at FROM created
     )
     SELECT ${WORKFLOW} FROM created`,
  ),
  /** No row: no such organization; one row of nulls: it has no live workflow. */
  ofOrganization: statement(
    'workflows.of-organization',
    `SELECT w.* FROM organizations AS o
       LEFT JOIN LATERAL (SELECT ${WORKFLOW} FROM workflows WHERE organization_id = o.id AND deleted_at IS NULL) AS w ON true
      WHERE o.id = $1
      ORDER BY w."createdAt", w.id`,
  ),
  find: statement('workflows.find', `SELECT ${WORKFLOW} FROM workflows WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL`),
  /** Deleted ones too: runs and teammates that point at them stay readable. */
  byIds: statement('workflows.by-ids', `SELECT ${WORKFLOW} FROM workflows WHERE id = ANY($1::uuid[]) AND organization_id = $2`),
  run: statement(
    'workflows.run',
    `SELECT ${selectList(RUN_TYPE_COLUMNS)} FROM workflow_runs WHERE id = $1 AND ${runTimeOf('created_at', '$1::uuid')} AND organization_id = $2`,
  ),
  /** Every run of an organization, when the organization is deleted. */
  deleteRunsOfOrganization: statement('workflows.delete-runs-of-organization', `DELETE FROM workflow_runs WHERE organization_id = $1`),
  /** Over the partial index workflow_runs_active_files: only active runs that were given files. */
  objectKeysInUse: statement(
    'workflows.object-keys-in-use',
    `SELECT DISTINCT f->>'objectKey' AS key
       FROM workflow_runs r, json_array_elements(r.files->'items') AS f
      WHERE r.status IN ('QUEUED', 'RUNNING') AND r.files IS NOT NULL AND f->>'objectKey' = ANY ($1::text[])`,
    { genericPlan: true },
  ),
};

/** The key that allows one QUEUED or RUNNING run per conversation (a trigger fills it as a run starts). */
const ACTIVE_TURN_INDEX = 'conversation_active_runs_pkey';

const conversationNotFound = () => notFound('Conversation');

/** Longest default title of a conversation, in characters. */
export const TITLE_LENGTH = 80;

/**
 * A new conversation's title: the start of its first input. A string input is itself; an object's
 * first string field among the usual names (text, message, question, content, input, query, prompt),
 * else its JSON. Whitespace runs become one space; cut at TITLE_LENGTH characters.
 */
export function conversationTitle(input: unknown): string {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    const fields = input && typeof input === 'object' && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
    const named = ['text', 'message', 'question', 'content', 'input', 'query', 'prompt'].find((k) => typeof fields[k] === 'string');
    text = named ? (fields[named] as string) : JSON.stringify(input ?? null);
  }
  // Control characters (a NUL cannot be stored in text) become spaces too.
  const chars = [...text.replace(/[\s\p{Cc}]+/gu, ' ').trim()];
  const title = chars.length > TITLE_LENGTH ? `${chars.slice(0, TITLE_LENGTH - 1).join('')}…` : chars.join('');
  return title === '' ? 'Conversation' : title;
}

/** A definition as the contract checks it, every problem listed at once (create and update alike). */
export function validated(input: unknown): ValidatedDefinition {
  try {
    return validateDefinition(input);
  } catch (error) {
    if (error instanceof DefinitionError) throw badInput(error.message, { problems: error.problems });
    throw error;
  }
}

/** Workflow definitions and starting runs. The executor (run-executor.ts) takes it from there. */
export class WorkflowService {
  private readonly runs: RunStateMachine;
  private readonly sql: StatementRunner;

  constructor(
    db: DataSource,
    announcer: RunAnnouncer,
    private readonly fileSource?: RunFileSource,
    callbacks?: CallbackQueue,
  ) {
    this.runs = new RunStateMachine(db, { announcer, callbacks });
    this.sql = new StatementRunner(db);
  }

  async createWorkflow(organizationId: string, input: unknown): Promise<CreatedWorkflow> {
    const checked = validated(input);
    if (!isUuid(organizationId)) throw notFound('organization');
    const signingSecret = newSigningSecret();
    const workflow = await this.sql.first<Workflow>(SQL.create, [organizationId, ...definitionValues(checked), signingSecret]);
    if (!workflow) throw notFound('organization');
    return { workflow, notStartableBecause: checked.notStartableBecause, signingSecret };
  }

  /** Every workflow of the organization that is not deleted, oldest first (admin commands). */
  async workflowsOfOrganization(organizationId: string): Promise<Workflow[]> {
    const rows = isUuid(organizationId) ? await this.sql.rows<Workflow>(SQL.ofOrganization, [organizationId]) : [];
    if (!rows.length) throw notFound('organization');
    return rows.filter((row) => row.id !== null);
  }

  /** The organization's workflows that are not deleted, oldest first, keyset-paged on (createdAt, id). */
  async listWorkflows(organizationId: string, query: PageQuery<CreatedAtPosition>): Promise<Page<Workflow>> {
    const values: unknown[] = [organizationId, query.first + 1];
    if (query.after) values.push(query.after.createdAt, query.after.id);
    return pageOf(await this.sql.rows<Workflow & { total?: number }>(listStatement(query), values), query);
  }

  /** The organization's workflow, or null (another organization's, or a deleted one, reads as missing). */
  async findWorkflow(organizationId: string, id: string): Promise<Workflow | null> {
    if (!isUuid(id)) return null;
    return this.sql.first<Workflow>(SQL.find, [id, organizationId]);
  }

  /**
   * For DataLoader: the workflows of these ids, in the same order (null where missing). Deleted
   * ones too: they are loaded for the runs and teammates that point at them, which stay readable.
   */
  async workflowsByIds(organizationId: string, ids: readonly string[]): Promise<Array<Workflow | null>> {
    const valid = ids.filter(isUuid);
    const found = valid.length ? await this.sql.rows<Workflow>(SQL.byIds, [[...new Set(valid)], organizationId]) : [];
    const byId = new Map(found.map((row) => [row.id, row]));
    // PostgreSQL reads a uuid in any case and gives it back in lower case.
    return ids.map((id) => byId.get(id.toLowerCase()) ?? null);
  }

  async findRun(organizationId: string, id: string): Promise<WorkflowRun | null> {
    if (!isUuid(id)) return null;
    return this.sql.first<WorkflowRun>(SQL.run, [id, organizationId]);
  }

  /**
   * Starts a run in one statement and one commit (RunStateMachine.start): the checks, the
   * idempotency-key claim and the QUEUED row, whose insert announces it to the workers. With an
   * idempotency key, the first start within 24 hours wins and every later (or concurrent) start
   * with that key gets its run. A teammate's run (`teammateId`) starts the teammate's workflow,
   * checked in the same statement.
   */
  async startRun(request: StartRunRequest): Promise<WorkflowRun> {
    const payload = request.payload ?? null;
    const payloadJson = payload === null ? null : JSON.stringify(payload);
    const payloadBytes = payloadJson === null ? 4 : Buffer.byteLength(payloadJson);
    if (payloadBytes > MAX_PAYLOAD_BYTES) {
      throw badInput(`The payload is ${payloadBytes} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES} (1 MB)`, { argument: 'payload' });
    }
    const callbackUrl = checkedCallbackUrl(request.callbackUrl);
    // Its length and characters are checked with the arguments (IsIdempotencyKey).
    const key = request.idempotencyKey ?? null;
    const teammateId = request.teammateId ?? null;
    if (teammateId === null ? !isUuid(request.workflowId ?? '') : !isUuid(teammateId)) {
      throw teammateId === null ? workflowNotFound() : notFound('Teammate');
    }
    // A teammate's request is named by the teammate (its workflow is only known to the statement).
    const target = teammateId === null ? { teammate: null, workflow: request.workflowId } : { teammate: teammateId.toLowerCase() };
    // A conversation and files are part of the request: the same key with others is another request.
    // Only a key is compared with it (a start without one stores none).
    const requestHash =
      key === null
        ? null
        : createHash('sha256')
            .update(
              canonicalJson({
                channel: request.channel,
                ...target,
                payload,
                ...(request.conversationId ? { conversation: request.conversationId.toLowerCase() } : {}),
                ...(request.files?.length ? { files: request.files } : {}),
              }),
            )
            .digest('hex');

    const conversationId = request.conversationId ?? null;
    if (conversationId !== null && (teammateId === null || !isUuid(conversationId))) throw conversationNotFound();
    const files = await this.snapshotFiles(request);
    // Time-ordered ids: new runs append to the primary-key index (ids.ts).
    const runId = uuidv7();
    const newConversation = teammateId !== null && conversationId === null ? { id: uuidv7(), title: conversationTitle(payload) } : null;
    const outcome = await this.startOrBusy({
      runId,
      organizationId: request.organizationId,
      workflowId: teammateId === null ? request.workflowId! : null,
      teammateId,
      channel: request.channel,
      apiKeyId: request.apiKeyId ?? null,
      payloadJson,
      idempotencyKey: key,
      requestHash,
      keyWindowHours: IDEMPOTENCY_WINDOW_HOURS,
      rerunOf: request.rerunOf ?? null,
      callbackUrl,
      conversationId,
      newConversation,
      filesJson: files === null ? null : JSON.stringify(files),
    });
    if (teammateId !== null && !outcome.teammateFound) throw notFound('Teammate');
    if (teammateId !== null && !outcome.apiEnabled) {
      throw new AppError(ErrorCode.CHANNEL_DISABLED, 'This teammate has no API channel, so it cannot be called through the API');
    }
    if (!outcome.workflowFound) throw workflowNotFound();
    if (!outcome.conversationFound) throw conversationNotFound();
    if (outcome.startStep === null) {
      throw new AppError(ErrorCode.WORKFLOW_NOT_STARTABLE, 'This workflow has no valid startStep, so it cannot be started');
    }
    if (outcome.createdAt === null) {
      // The key named another run: the same request gets that run, another request is refused.
      if (outcome.keyRequestHash !== requestHash) {
        throw badInput('This idempotencyKey was already used in the last 24 hours for a different request (target or payload)', {
          argument: 'idempotencyKey',
        });
      }
      const existing = await this.findRun(request.organizationId, outcome.keyRunId!);
      if (!existing) throw new Error(`idempotency key points at missing run ${outcome.keyRunId}`);
      return existing;
    }
    // The answer is built from what the insert returned (the payload as the json column gives it
    // back) instead of reading the row again.
    return {
      id: runId,
      organizationId: request.organizationId,
      workflowId: outcome.workflowId!,
      workflowVersion: outcome.workflowVersion!,
      status: WorkflowRunStatus.QUEUED,
      payload: outcome.payload,
      output: null,
      error: null,
      steps: {},
      statusSeq: 1,
      createdAt: outcome.createdAt,
      startedAt: null,
      finishedAt: null,
      rerunOfId: request.rerunOf ?? null,
      callbackUrl,
      callbackAttempts: 0,
      callbackDeliveredAt: null,
      callbackLastError: null,
      conversationId: outcome.conversationId,
      files,
    } satisfies WorkflowRun;
  }

  /**
   * Cancels the organization's run: a queued one never starts, a running one ends CANCELLED at
   * once and its worker (in whichever process) aborts the step in flight. A finished run is
   * answered as it is. NOT_FOUND for another organization's run.
   */
  async cancelRun(organizationId: string, runId: string): Promise<WorkflowRun> {
    if (!isUuid(runId)) throw notFound('Workflow run');
    await this.runs.cancel(organizationId, runId);
    const run = await this.findRun(organizationId, runId);
    if (!run) throw notFound('Workflow run');
    return run;
  }

  /**
   * A new run of the run's workflow (its current version) with the same payload, linked to it by
   * `rerunOf`. WORKFLOW_NOT_FOUND when the workflow was deleted.
   */
  async rerunRun(organizationId: string, runId: string, apiKeyId: string | null): Promise<WorkflowRun> {
    const original = await this.findRun(organizationId, runId);
    if (!original) throw notFound('Workflow run');
    return this.startRun({
      organizationId,
      workflowId: original.workflowId,
      payload: original.payload,
      channel: 'TRIGGER',
      apiKeyId,
      rerunOf: original.id,
    });
  }

  /**
   * The start statement; a second active run of one conversation violates the key of
   * conversation_active_runs, which fails the whole statement (nothing is created).
   */
  private async startOrBusy(params: Parameters<RunStateMachine['start']>[0]) {
    try {
      return await this.runs.start(params);
    } catch (error) {
      if (pgCode(error) === PgError.UNIQUE_VIOLATION && (error as { constraint?: string }).constraint === ACTIVE_TURN_INDEX) {
        throw new AppError(
          ErrorCode.CONVERSATION_BUSY,
          'The previous turn of this conversation is still QUEUED or RUNNING; call again once it has finished',
          { conversationId: params.conversationId },
        );
      }
      throw error;
    }
  }

  /** The files as they are now (checked before anything starts), or null without any. */
  private async snapshotFiles(request: StartRunRequest): Promise<StoredRunFiles | null> {
    const paths = request.files ?? [];
    if (paths.length === 0) return null;
    if (paths.length > MAX_RUN_FILES) {
      throw badInput(`At most ${MAX_RUN_FILES} files can be handed to a run; got ${paths.length}`, { argument: 'files' });
    }
    if (!this.fileSource) throw new Error('this WorkflowService was built without storage, so runs cannot be given files');
    const items = await this.fileSource.snapshot(request.organizationId, paths);
    return { baseUrl: request.baseUrl ?? '', items };
  }

  /**
   * Object keys (of files handed to runs) that a QUEUED or RUNNING run was given: storage keeps
   * their bytes until the run has ended, so that a run's links serve what it was given.
   */
  /**
   * Inside the transaction that deletes the organization (`alloy org delete`): all its runs (their
   * events and idempotency keys cascade). The workflows go with the organization row itself.
   */
  async deleteOrganizationRuns(tx: EntityManager, organizationId: string): Promise<void> {
    await this.sql.run(SQL.deleteRunsOfOrganization, [organizationId], tx);
  }

  async objectKeysInUse(keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.sql.rows<{ key: string }>(SQL.objectKeysInUse, [keys]);
    return new Set(rows.map((r) => r.key));
  }
}
