import { DataSource } from 'typeorm';
import type { Principal } from '../auth/auth.service';
import { isUuid } from '../auth/organization.service';
import { Organization } from '../auth/organization.entity';
import { AppError, badInput, ErrorCode, notFound } from '../graphql/errors';
import { decodeCursor, encodeCursor, pageSize } from '../graphql/relay';
import type { WorkflowRun } from '../workflows/workflow-run.entity';
import { WorkflowRunStatus } from '../workflows/workflow-run.entity';
import { Workflow } from '../workflows/workflow.entity';
import type { WorkflowService } from '../workflows/workflow.service';
import { RequestLog, RequestLogConnection } from './request-log';
import { Teammate, TeammateChannel } from './teammate.entity';

export interface CreateTeammateInput {
  name: string;
  workflowId: string;
  channels: string[];
}

export interface RequestLogFilter {
  first?: number | null;
  after?: string | null;
  status?: WorkflowRunStatus | null;
  /** createdAt at or after. */
  since?: Date | null;
  /** createdAt before. */
  until?: Date | null;
}

export interface TeammatePage {
  edges: Array<{ cursor: string; node: Teammate }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

const KNOWN_CHANNELS = Object.values(TeammateChannel) as string[];
const REQUEST_LOG_CURSOR = 'RequestLog';
const TEAMMATE_CURSOR = 'Teammate';

function keysetPosition(tag: string, after: string | null | undefined): { createdAt: Date; id: string } | null {
  const key = decodeCursor(tag, after, 2);
  if (!key) return null;
  const [createdAt, id] = key;
  const date = typeof createdAt === 'string' ? new Date(createdAt) : null;
  if (!date || Number.isNaN(date.getTime()) || typeof id !== 'string' || !isUuid(id)) {
    throw badInput('after is not a cursor of this list', { argument: 'after' });
  }
  return { createdAt: date, id };
}

/** Teammates: a workflow reachable through channels; their API channel's calls are their request logs. */
export class TeammateService {
  constructor(private readonly db: DataSource, private readonly workflows: WorkflowService) {}

  async createTeammate(organizationId: string, input: CreateTeammateInput): Promise<Teammate> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 200) throw badInput('name must be 1 to 200 characters', { argument: 'name' });
    const unknown = input.channels.filter((c) => !KNOWN_CHANNELS.includes(c));
    if (unknown.length) {
      throw badInput(`Unknown channel ${unknown.map((c) => JSON.stringify(c)).join(', ')} (known: ${KNOWN_CHANNELS.join(', ')})`, {
        argument: 'channel',
      });
    }
    if (!isUuid(organizationId) || !(await this.db.getRepository(Organization).exists({ where: { id: organizationId } }))) {
      throw notFound('organization');
    }
    if (!isUuid(input.workflowId) || !(await this.db.getRepository(Workflow).exists({ where: { id: input.workflowId, organizationId } }))) {
      throw new AppError(ErrorCode.WORKFLOW_NOT_FOUND, 'Workflow not found in this organization');
    }
    const repo = this.db.getRepository(Teammate);
    return repo.save(
      repo.create({ organizationId, name, workflowId: input.workflowId, channels: [...new Set(input.channels)] as TeammateChannel[] }),
    );
  }

  async findTeammate(organizationId: string, id: string): Promise<Teammate | null> {
    if (!isUuid(id)) return null;
    return this.db.getRepository(Teammate).findOne({ where: { id, organizationId } });
  }

  /** Oldest first, keyset-paged on (createdAt, id). */
  async listTeammates(organizationId: string, first?: number | null, after?: string | null): Promise<TeammatePage> {
    const limit = pageSize(first);
    const position = keysetPosition(TEAMMATE_CURSOR, after);
    const query = this.db
      .getRepository(Teammate)
      .createQueryBuilder('t')
      .where('t.organization_id = :organizationId', { organizationId })
      .orderBy('t.created_at', 'ASC')
      .addOrderBy('t.id', 'ASC')
      .take(limit + 1);
    if (position) query.andWhere('(t.created_at, t.id) > (:createdAt, :id)', position);
    const [rows, totalCount] = await Promise.all([
      query.getMany(),
      this.db.getRepository(Teammate).count({ where: { organizationId } }),
    ]);
    const page = rows.slice(0, limit);
    const edges = page.map((node) => ({ cursor: encodeCursor(TEAMMATE_CURSOR, [node.createdAt.toISOString(), node.id]), node }));
    return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null }, totalCount };
  }

  /** Starts the teammate's workflow with the caller's input, on the API channel, recording the calling key. */
  async callTeammate(principal: Principal, teammateId: string, input: unknown, idempotencyKey?: string | null): Promise<WorkflowRun> {
    // The teammate, its channel and its workflow are checked in the start's one statement.
    return this.workflows.startRun({
      organizationId: principal.organizationId,
      payload: input,
      idempotencyKey,
      channel: 'API',
      teammateId,
      apiKeyId: principal.keyId,
    });
  }

  /**
   * The teammate's API-channel runs, newest first, keyset-paged on (createdAt, id) over the index
   * workflow_runs_request_logs: a page deep in the list costs what the first costs, and runs that
   * arrive while a client pages (they are newer than its cursor) neither shift nor repeat rows.
   */
  async requestLogs(organizationId: string, teammateId: string, filter: RequestLogFilter): Promise<RequestLogConnection> {
    const limit = pageSize(filter.first);
    const position = keysetPosition(REQUEST_LOG_CURSOR, filter.after);
    if (filter.since && filter.until && filter.since >= filter.until) {
      throw badInput('since must be before until', { argument: 'since' });
    }
    const conditions = [`teammate_id = $1`, `organization_id = $2`, `channel = 'API'`];
    const params: unknown[] = [teammateId, organizationId];
    const add = (sql: (n: number) => string, value: unknown) => {
      params.push(value);
      conditions.push(sql(params.length));
    };
    if (filter.status) add((n) => `status = $${n}`, filter.status);
    if (filter.since) add((n) => `created_at >= $${n}`, filter.since);
    if (filter.until) add((n) => `created_at < $${n}`, filter.until);
    const countParams = [...params];
    const countConditions = [...conditions];
    if (position) {
      params.push(position.createdAt, position.id);
      conditions.push(`(created_at, id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(limit + 1);
    const rows: Array<{
      id: string;
      status: WorkflowRunStatus;
      payload: unknown;
      output: unknown;
      error: string | null;
      api_key_id: string | null;
      created_at: Date;
      finished_at: Date | null;
    }> = await this.db.query(
      `SELECT id, status, payload, output, error, api_key_id, created_at, finished_at
         FROM workflow_runs
        WHERE ${conditions.join(' AND ')}
        ORDER BY created_at DESC, id DESC
        LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, limit);
    const connection = new RequestLogConnection();
    connection.edges = page.map((row) => {
      const node = Object.assign(new RequestLog(), {
        id: row.id,
        runId: row.id,
        status: row.status,
        request: row.payload,
        response: row.output,
        error: row.error,
        apiKeyId: row.api_key_id,
        durationMs: row.finished_at ? row.finished_at.getTime() - row.created_at.getTime() : null,
        createdAt: row.created_at,
        finishedAt: row.finished_at,
      });
      return { cursor: encodeCursor(REQUEST_LOG_CURSOR, [row.created_at.toISOString(), row.id]), node };
    });
    connection.pageInfo = { hasNextPage: rows.length > limit, endCursor: connection.edges.at(-1)?.cursor ?? null };
    connection.countAll = async () => {
      const [{ count }] = await this.db.query(
        `SELECT count(*)::int AS count FROM workflow_runs WHERE ${countConditions.join(' AND ')}`,
        countParams,
      );
      return count;
    };
    return connection;
  }
}
