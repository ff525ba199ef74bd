import { isUuid } from '../db/ids';
import { DataSource, EntityManager, IsNull } from 'typeorm';
import type { Principal } from '../auth/auth.service';
import { Organization } from '../auth/organization.entity';
import { AppError, badInput, ErrorCode, notFound } from '../graphql/errors';
import { createdAtIdPosition, encodeCursor, pageSize } from '../graphql/relay';
import type { WorkflowRun } from '../workflows/workflow-run.entity';
import { WorkflowRunStatus } from '../workflows/workflow-run.entity';
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

/** `alloy teammate update`: only what is given changes. */
export interface TeammateChange {
  name?: string;
  workflowId?: string;
  channels?: string[];
}

const KNOWN_CHANNELS = Object.values(TeammateChannel) as string[];

function checkedName(input: string): string {
  const name = input.trim();
  if (name.length < 1 || name.length > 200) throw badInput('name must be 1 to 200 characters', { argument: 'name' });
  return name;
}

function checkedChannels(channels: string[]): TeammateChannel[] {
  const unknown = channels.filter((c) => !KNOWN_CHANNELS.includes(c));
  if (unknown.length) {
    throw badInput(`Unknown channel ${unknown.map((c) => JSON.stringify(c)).join(', ')} (known: ${KNOWN_CHANNELS.join(', ')})`, {
      argument: 'channel',
    });
  }
  return [...new Set(channels)] as TeammateChannel[];
}

/**
 * Inside `tx`: the organization's workflow must exist and not be deleted, and stays so until the
 * commit (a share lock, which the row lock of WorkflowService.deleteWorkflow waits for), so a teammate is never
 * left pointing at a deleted workflow.
 */
async function lockLiveWorkflow(tx: EntityManager, organizationId: string, workflowId: string): Promise<void> {
  const [found] = isUuid(workflowId)
    ? await tx.query(`SELECT 1 FROM workflows WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL FOR SHARE`, [workflowId, organizationId])
    : [];
  if (!found) throw new AppError(ErrorCode.WORKFLOW_NOT_FOUND, 'Workflow not found in this organization');
}
const REQUEST_LOG_CURSOR = 'RequestLog';
const TEAMMATE_CURSOR = 'Teammate';

/** Teammates: a workflow reachable through channels; their API channel's calls are their request logs. */
export class TeammateService {
  constructor(private readonly db: DataSource, private readonly workflows: WorkflowService) {}

  async createTeammate(organizationId: string, input: CreateTeammateInput): Promise<Teammate> {
    const name = checkedName(input.name);
    const channels = checkedChannels(input.channels);
    if (!isUuid(organizationId) || !(await this.db.getRepository(Organization).exists({ where: { id: organizationId } }))) {
      throw notFound('organization');
    }
    return this.db.transaction(async (tx) => {
      await lockLiveWorkflow(tx, organizationId, input.workflowId);
      const repo = tx.getRepository(Teammate);
      return repo.save(repo.create({ organizationId, name, workflowId: input.workflowId, channels }));
    });
  }

  /**
   * Changes a teammate's name, workflow or channels (an admin operation: any organization's
   * teammate). The new workflow must be one of the teammate's organization, not deleted.
   */
  async updateTeammate(teammateId: string, change: TeammateChange): Promise<Teammate> {
    const name = change.name === undefined ? undefined : checkedName(change.name);
    const channels = change.channels === undefined ? undefined : checkedChannels(change.channels);
    if (name === undefined && channels === undefined && change.workflowId === undefined) {
      throw badInput('Nothing to change: give a new name, workflow or channels');
    }
    if (!isUuid(teammateId)) throw notFound('Teammate');
    return this.db.transaction(async (tx) => {
      const [current]: Array<{ organization_id: string }> = await tx.query(
        `SELECT organization_id FROM teammates WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`,
        [teammateId],
      );
      if (!current) throw notFound('Teammate');
      if (change.workflowId !== undefined) await lockLiveWorkflow(tx, current.organization_id, change.workflowId);
      await tx.query(
        `UPDATE teammates
            SET name = COALESCE($2, name), workflow_id = COALESCE($3, workflow_id), channels = COALESCE($4::text[], channels)
          WHERE id = $1`,
        [teammateId, name ?? null, change.workflowId ?? null, channels ?? null],
      );
      return (await tx.getRepository(Teammate).findOneByOrFail({ id: teammateId }));
    });
  }

  /**
   * Deletes a teammate (an admin operation): `callTeammate` then answers NOT_FOUND and it leaves
   * the lists, while its runs stay readable (the row stays, with `deleted_at`).
   */
  async deleteTeammate(teammateId: string): Promise<{ teammateId: string; deletedAt: Date }> {
    if (!isUuid(teammateId)) throw notFound('Teammate');
    const [rows]: [Array<{ id: string; deleted_at: Date }>] = await this.db.query(
      `UPDATE teammates SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id, deleted_at`,
      [teammateId],
    );
    if (!rows.length) throw notFound('Teammate');
    return { teammateId: rows[0].id, deletedAt: rows[0].deleted_at };
  }

  /** Every teammate of the organization that is not deleted, oldest first (admin commands). */
  async teammatesOfOrganization(organizationId: string): Promise<Teammate[]> {
    if (!isUuid(organizationId) || !(await this.db.getRepository(Organization).exists({ where: { id: organizationId } }))) {
      throw notFound('organization');
    }
    return this.db.getRepository(Teammate).find({ where: { organizationId, deletedAt: IsNull() }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** The organization's teammate, or null (another organization's, or a deleted one, reads as missing). */
  async findTeammate(organizationId: string, id: string): Promise<Teammate | null> {
    if (!isUuid(id)) return null;
    return this.db.getRepository(Teammate).findOne({ where: { id, organizationId, deletedAt: IsNull() } });
  }

  /** Oldest first, keyset-paged on (createdAt, id); deleted teammates are left out. */
  async listTeammates(organizationId: string, first?: number | null, after?: string | null): Promise<TeammatePage> {
    const limit = pageSize(first);
    const position = createdAtIdPosition(TEAMMATE_CURSOR, after);
    const query = this.db
      .getRepository(Teammate)
      .createQueryBuilder('t')
      .where('t.organization_id = :organizationId', { organizationId })
      .andWhere('t.deleted_at IS NULL')
      .orderBy('t.created_at', 'ASC')
      .addOrderBy('t.id', 'ASC')
      .take(limit + 1);
    if (position) query.andWhere('(t.created_at, t.id) > (:createdAt, :id)', position);
    const [rows, totalCount] = await Promise.all([
      query.getMany(),
      this.db.getRepository(Teammate).count({ where: { organizationId, deletedAt: IsNull() } }),
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
    const position = createdAtIdPosition(REQUEST_LOG_CURSOR, filter.after);
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
