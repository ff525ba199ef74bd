import type { DataSource, EntityManager } from 'typeorm';
import { pick, selectList } from '../db/columns';
import { isUuid } from '../db/ids';
import { statement, StatementRunner } from '../db/statements';
import { badInput, notFound } from '../graphql/errors';
import { TEAMMATE_COLUMNS, TEAMMATE_TYPE_COLUMNS, TeammateRow } from './teammate.row';
import type { Teammate } from './teammate.type';
import { checkedChannels, checkedName, LIVE_WORKFLOW, workflowNotFound } from './teammate.service';

/** `alloy teammate update`: only what is given changes. */
export interface TeammateChange {
  name?: string;
  workflowId?: string;
  channels?: string[];
}

const SQL = {
  lock: statement(
    'teammates.lock',
    `SELECT ${selectList(pick(TEAMMATE_COLUMNS, 'organizationId'))} FROM teammates WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`,
  ),
  lockLiveWorkflow: statement('teammates.lock-live-workflow', LIVE_WORKFLOW),
  update: statement(
    'teammates.update',
    `UPDATE teammates
        SET name = COALESCE($2, name), workflow_id = COALESCE($3, workflow_id), channels = COALESCE($4::text[], channels)
      WHERE id = $1
    RETURNING ${selectList(TEAMMATE_TYPE_COLUMNS)}`,
  ),
  markDeleted: statement(
    'teammates.mark-deleted',
    `UPDATE teammates SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING ${selectList(pick(TEAMMATE_COLUMNS, 'id', 'deletedAt'))}`,
  ),
};

/**
 * What the admin CLI does to any organization's teammate, by its id alone. Only the CLI gets it
 * (the composition root's `createAdmin`): the gateway's resolvers reach teammates through their
 * organization scope (organization-teammates.ts).
 */
export class TeammateAdmin {
  private readonly sql: StatementRunner;

  constructor(db: DataSource) {
    this.sql = new StatementRunner(db);
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
    return this.sql.transaction(async (tx) => {
      const current = await this.sql.first<Pick<TeammateRow, 'organizationId'>>(SQL.lock, [teammateId], tx);
      if (!current) throw notFound('Teammate');
      if (change.workflowId !== undefined) await this.lockLiveWorkflow(tx, current.organizationId, change.workflowId);
      const updated = await this.sql.first<Teammate>(
        SQL.update,
        [teammateId, name ?? null, change.workflowId ?? null, channels ?? null],
        tx,
      );
      return updated!;
    });
  }

  /** See LIVE_WORKFLOW. */
  private async lockLiveWorkflow(tx: EntityManager, organizationId: string, workflowId: string): Promise<void> {
    const found = isUuid(workflowId) && (await this.sql.first(SQL.lockLiveWorkflow, [organizationId, workflowId], tx));
    if (!found) throw workflowNotFound();
  }

  /**
   * Deletes a teammate (an admin operation): `callTeammate` then answers NOT_FOUND and it leaves
   * the lists, while its runs stay readable (the row stays, with `deleted_at`).
   */
  async deleteTeammate(teammateId: string): Promise<{ teammateId: string; deletedAt: Date }> {
    if (!isUuid(teammateId)) throw notFound('Teammate');
    const deleted = await this.sql.first<{ id: string; deletedAt: Date }>(SQL.markDeleted, [teammateId]);
    if (!deleted) throw notFound('Teammate');
    return { teammateId: deleted.id, deletedAt: deleted.deletedAt };
  }
}
