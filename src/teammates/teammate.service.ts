import { isUuid } from '../db/ids';
import type { DataSource, EntityManager } from 'typeorm';
import { pick, selectList } from '../db/columns';
import { CreatedAtPosition, oldestFirstList, Page, pageOf, PageQuery, withTotal } from '../db/page';
import { Statement, statement, StatementRunner } from '../db/statements';
import { AppError, badInput, ErrorCode, notFound } from '../graphql/errors';
import { RUN_COLUMNS, RunRow } from '../workflows/workflow-run.row';
import type { WorkflowRun } from '../workflows/workflow-run.type';
import { WorkflowRunStatus } from '../workflows/workflow-run.type';
import type { WorkflowService } from '../workflows/workflow.service';
import type { ApiCallLog } from './api-call-log';
import { TEAMMATE_COLUMNS, TEAMMATE_TYPE_COLUMNS, TeammateRow } from './teammate.row';
import { Teammate, TeammateChannel } from './teammate.type';

export interface CreateTeammateInput {
  name: string;
  workflowId: string;
  channels: string[];
}

/** Which of a teammate's API calls to list. */
export interface ApiCallFilter {
  status?: WorkflowRunStatus | null;
  /** createdAt at or after. */
  since?: Date | null;
  /** createdAt before. */
  until?: Date | null;
  /** Only the turns of this conversation. */
  conversationId?: string | null;
}

/** What a call adds to its input (see callTeammate). */
export interface CallOptions {
  idempotencyKey?: string | null;
  conversationId?: string | null;
  files?: readonly string[] | null;
  baseUrl?: string;
  /** POSTed the run's end (see run-callbacks.ts). */
  callbackUrl?: string | null;
}

const KNOWN_CHANNELS = Object.values(TeammateChannel) as string[];

export function checkedName(input: string): string {
  const name = input.trim();
  if (name.length < 1 || name.length > 200) throw badInput('name must be 1 to 200 characters', { argument: 'name' });
  return name;
}

export function checkedChannels(channels: string[]): TeammateChannel[] {
  const unknown = channels.filter((c) => !KNOWN_CHANNELS.includes(c));
  if (unknown.length) {
    throw badInput(`Unknown channel ${unknown.map((c) => JSON.stringify(c)).join(', ')} (known: ${KNOWN_CHANNELS.join(', ')})`, {
      argument: 'channel',
    });
  }
  return [...new Set(channels)] as TeammateChannel[];
}

/** What a teammate's API call (a run of its API channel) is read with: its request log. */
const API_CALL_COLUMNS = pick(
  RUN_COLUMNS,
  'id',
  'status',
  'payload',
  'output',
  'error',
  'apiKeyId',
  'createdAt',
  'finishedAt',
  'conversationId',
);
type ApiCallRow = Pick<RunRow, keyof typeof API_CALL_COLUMNS>;

/** A run of the API channel seen as a request log: the payload its request, the output its response, and how long it took. */
const toApiCallLog = (row: ApiCallRow): ApiCallLog => ({
  id: row.id,
  runId: row.id,
  status: row.status,
  request: row.payload,
  response: row.output,
  error: row.error,
  apiKeyId: row.apiKeyId,
  conversationId: row.conversationId,
  durationMs: row.finishedAt ? row.finishedAt.getTime() - row.createdAt.getTime() : null,
  createdAt: row.createdAt,
  finishedAt: row.finishedAt,
});

/** What a Teammate is read with. */
const TEAMMATE = selectList(TEAMMATE_TYPE_COLUMNS);

/**
 * The organization's workflow must exist and not be deleted, and stays so until the commit (a
 * share lock, which the row lock of WorkflowAdmin.deleteWorkflow waits for), so that a teammate
 * is never left pointing at a deleted workflow.
 */
export const LIVE_WORKFLOW = `SELECT id FROM workflows WHERE id = $2 AND organization_id = $1 AND deleted_at IS NULL FOR SHARE`;

/** Pages of the organization's live teammates (PageQuery: $1 organization, $2 size + 1, $3 $4 the position after). */
const listStatement = oldestFirstList('teammates.list', 'teammates', TEAMMATE_TYPE_COLUMNS, 'organization_id = $1 AND deleted_at IS NULL');

/**
 * A page of a teammate's API calls, newest first, over the index workflow_runs_request_logs (or
 * its by-status twin): $1 teammate, $2 organization, then the values of the filters given, of the
 * position after, and the size + 1. One statement per combination, so each keeps its own plan.
 * Exported for the test that reads the plans of the counts (test/request-log-counts.test.ts).
 */
export function apiCallStatement(
  filters: { status: boolean; since: boolean; until: boolean; conversation: boolean },
  after: boolean,
  count: boolean,
): Statement {
  let n = 2;
  const conditions = [`teammate_id = $1`, `organization_id = $2`, `channel = 'API'`];
  const param = { status: '', since: '', until: '' };
  if (filters.status) conditions.push(`status = ${(param.status = `$${++n}`)}`);
  const untimed = conditions.join(' AND ');
  if (filters.since) conditions.push(`created_at >= ${(param.since = `$${++n}`)}`);
  if (filters.until) conditions.push(`created_at < ${(param.until = `$${++n}`)}`);
  if (filters.conversation) conditions.push(`conversation_id = $${++n}::uuid`);
  const filtered = conditions.join(' AND ');
  const position = after ? ` AND (created_at, id) < ($${++n}, $${++n})` : '';
  const page = `SELECT ${selectList(API_CALL_COLUMNS)}
                  FROM workflow_runs WHERE ${filtered}${position} ORDER BY created_at DESC, id DESC LIMIT $${n + 1}`;
  const name = [
    'teammates.api-calls',
    ...Object.entries(filters)
      .filter(([, on]) => on)
      .map(([filter]) => filter),
    after && 'after',
    count && 'count',
  ]
    .filter(Boolean)
    .join('-');
  // A conversation's runs are counted in its index: as many as the conversation has turns.
  const total = filters.conversation ? `SELECT count(*)::int AS total FROM workflow_runs WHERE ${filtered}` : countedTotal(untimed, param);
  // Over every day partition of the runs: see Statement.genericPlan.
  return statement(name, count ? withTotal(total, page, 'p."createdAt" DESC, p.id DESC') : page, { genericPlan: true });
}

/**
 * How many of a teammate's API calls there are, read from request_log_counts and the deltas not
 * yet folded into it (migration 1765800000000) rather than counted: a few rows per status and UTC
 * day. A `since`/`until` range sums the whole days within it from there, and counts the runs of
 * its partial first and last day in the request-log index (at most two days of runs, whatever the
 * history). `untimed` is the page's condition without the time range; `param` the placeholders.
 */
function countedTotal(untimed: string, param: { status: string; since: string; until: string }): string {
  const mine = `organization_id = $2 AND teammate_id = $1${param.status ? ` AND status = ${param.status}` : ''}`;
  const counters = `FROM (SELECT day, n FROM request_log_counts WHERE ${mine}
                          UNION ALL SELECT day, n FROM request_log_count_deltas WHERE ${mine}) AS k`;
  if (!param.since && !param.until) return `SELECT COALESCE(sum(n), 0)::int AS total ${counters}`;
  // s..u the range; lo the first midnight at or after s, hi the last midnight at or before u.
  const range = `SELECT s, u, CASE WHEN s = date_trunc('day', s, 'UTC') THEN s ELSE date_trunc('day', s, 'UTC') + interval '1 day' END AS lo,
                        date_trunc('day', u, 'UTC') AS hi
                   FROM (SELECT ${param.since ? `${param.since}::timestamptz` : `'-infinity'::timestamptz`} AS s,
                                ${param.until ? `${param.until}::timestamptz` : `'infinity'::timestamptz`} AS u) AS given`;
  return `SELECT ((SELECT COALESCE(sum(n), 0) ${counters} WHERE day >= request_log_count_day(b.lo) AND day < request_log_count_day(b.hi))
                + (SELECT count(*) FROM workflow_runs WHERE ${untimed} AND created_at >= b.s AND created_at < least(b.lo, b.u))
                + (SELECT count(*) FROM workflow_runs WHERE ${untimed} AND created_at >= greatest(b.hi, b.lo) AND created_at < b.u))::int AS total
            FROM (${range}) AS b`;
}

const API_CALLS = new Map<string, Statement>();
for (const status of [false, true]) {
  for (const since of [false, true]) {
    for (const until of [false, true]) {
      for (const conversation of [false, true]) {
        for (const after of [false, true]) {
          for (const count of [false, true]) {
            API_CALLS.set(
              `${status}${since}${until}${conversation}${after}${count}`,
              apiCallStatement({ status, since, until, conversation }, after, count),
            );
          }
        }
      }
    }
  }
}

const SQL = {
  /** No row: no such organization; a row without a teammate: no such live workflow in it. */
  create: statement(
    'teammates.create',
    `WITH organization AS (SELECT id FROM organizations WHERE id = $1),
          workflow AS (${LIVE_WORKFLOW}),
          created AS (
            INSERT INTO teammates (organization_id, name, workflow_id, channels)
            SELECT $1, $3::text, id, $4::text[] FROM workflow
            RETURNING ${TEAMMATE}
          )
     SELECT created.* FROM organization LEFT JOIN created ON true`,
  ),
  /** No row: no such organization; one row of nulls: it has no live teammate. */
  ofOrganization: statement(
    'teammates.of-organization',
    `SELECT t.* FROM organizations AS o
       LEFT JOIN LATERAL (SELECT ${TEAMMATE} FROM teammates WHERE organization_id = o.id AND deleted_at IS NULL) AS t ON true
      WHERE o.id = $1
      ORDER BY t."createdAt", t.id`,
  ),
  /** Every teammate of an organization, deleted ones included, when the organization is deleted. */
  deleteOfOrganization: statement('teammates.delete-of-organization', `DELETE FROM teammates WHERE organization_id = $1`),
  /** The live teammates that run a workflow (WorkflowAdmin.deleteWorkflow refuses while there are any). */
  runningWorkflow: statement(
    'teammates.running-workflow',
    `SELECT ${selectList(pick(TEAMMATE_COLUMNS, 'id', 'name'))} FROM teammates WHERE workflow_id = $1 AND deleted_at IS NULL ORDER BY created_at, id`,
  ),
  find: statement('teammates.find', `SELECT ${TEAMMATE} FROM teammates WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL`),
};

export const workflowNotFound = () => new AppError(ErrorCode.WORKFLOW_NOT_FOUND, 'Workflow not found in this organization');

/** Teammates: a workflow reachable through channels; their API channel's calls are their request logs. */
export class TeammateService {
  private readonly sql: StatementRunner;

  constructor(
    db: DataSource,
    private readonly workflows: WorkflowService,
  ) {
    this.sql = new StatementRunner(db);
  }

  /** The teammate and the share lock on its workflow (LIVE_WORKFLOW) in one statement. */
  async createTeammate(organizationId: string, input: CreateTeammateInput): Promise<Teammate> {
    const name = checkedName(input.name);
    const channels = checkedChannels(input.channels);
    if (!isUuid(organizationId)) throw notFound('organization');
    const workflowId = isUuid(input.workflowId) ? input.workflowId : null;
    const created = await this.sql.first<Teammate>(SQL.create, [organizationId, workflowId, name, channels]);
    if (!created) throw notFound('organization');
    if (created.id === null) throw workflowNotFound();
    return created;
  }

  /** Every teammate of the organization that is not deleted, oldest first (admin commands). */
  async teammatesOfOrganization(organizationId: string): Promise<Teammate[]> {
    const rows = isUuid(organizationId) ? await this.sql.rows<Teammate>(SQL.ofOrganization, [organizationId]) : [];
    if (!rows.length) throw notFound('organization');
    return rows.filter((row) => row.id !== null);
  }

  /** The live teammates that run the workflow, oldest first, in the caller's transaction (any organization's: admin). */
  runningWorkflow(tx: EntityManager, workflowId: string): Promise<Array<Pick<TeammateRow, 'id' | 'name'>>> {
    return this.sql.rows(SQL.runningWorkflow, [workflowId], tx);
  }

  /** Inside the transaction that deletes the organization (`alloy org delete`): all its teammates. */
  async deleteOrganization(tx: EntityManager, organizationId: string): Promise<void> {
    await this.sql.run(SQL.deleteOfOrganization, [organizationId], tx);
  }

  /** The organization's teammate, or null (another organization's, or a deleted one, reads as missing). */
  async findTeammate(organizationId: string, id: string): Promise<Teammate | null> {
    if (!isUuid(id)) return null;
    return this.sql.first<Teammate>(SQL.find, [id, organizationId]);
  }

  /** Oldest first, keyset-paged on (createdAt, id); deleted teammates are left out. */
  async listTeammates(organizationId: string, query: PageQuery<CreatedAtPosition>): Promise<Page<Teammate>> {
    const values: unknown[] = [organizationId, query.first + 1];
    if (query.after) values.push(query.after.createdAt, query.after.id);
    return pageOf(await this.sql.rows<Teammate & { total?: number }>(listStatement(query), values), query);
  }

  /**
   * Starts the teammate's workflow with the caller's input, on the API channel, recording the
   * calling key, as a turn of the conversation given (or of a new one), with the files given.
   */
  async callTeammate(
    organizationId: string,
    apiKeyId: string,
    teammateId: string,
    input: unknown,
    options: CallOptions = {},
  ): Promise<WorkflowRun> {
    // The teammate, its channel, its workflow and the conversation are checked in the start's one statement.
    return this.workflows.startRun({
      organizationId,
      payload: input,
      idempotencyKey: options.idempotencyKey,
      channel: 'API',
      teammateId,
      apiKeyId,
      conversationId: options.conversationId,
      files: options.files,
      baseUrl: options.baseUrl,
      callbackUrl: options.callbackUrl,
    });
  }

  /**
   * The teammate's API-channel runs (its request logs), newest first, keyset-paged on
   * (createdAt, id) over the index workflow_runs_request_logs: a page deep in the list costs what
   * the first costs, and runs that arrive while a client pages (they are newer than its cursor)
   * neither shift nor repeat rows. Counted with the filters, whatever the position.
   */
  async apiCalls(
    organizationId: string,
    teammateId: string,
    filter: ApiCallFilter,
    query: PageQuery<CreatedAtPosition>,
  ): Promise<Page<ApiCallLog>> {
    if (filter.since && filter.until && filter.since >= filter.until) {
      throw badInput('since must be before until', { argument: 'since' });
    }
    const values: unknown[] = [teammateId, organizationId];
    if (filter.status) values.push(filter.status);
    if (filter.since) values.push(filter.since);
    if (filter.until) values.push(filter.until);
    // An id that is no uuid matches nothing (an empty page, as for a conversation of another teammate).
    if (filter.conversationId && !isUuid(filter.conversationId))
      return { rows: [], hasNextPage: false, ...(query.count ? { count: 0 } : {}) };
    if (filter.conversationId) values.push(filter.conversationId);
    if (query.after) values.push(query.after.createdAt, query.after.id);
    values.push(query.first + 1);
    const key = `${!!filter.status}${!!filter.since}${!!filter.until}${!!filter.conversationId}${!!query.after}${query.count}`;
    const listing = API_CALLS.get(key)!;
    const page = pageOf(await this.sql.rows<ApiCallRow & { total?: number }>(listing, values), query);
    return { ...page, rows: page.rows.map(toApiCallLog) };
  }
}
