import type { DataSource, EntityManager } from 'typeorm';
import { pick, selectList } from '../db/columns';
import { isUuid } from '../db/ids';
import { statement, StatementRunner } from '../db/statements';
import { AppError, badInput, ErrorCode } from '../graphql/errors';
import { MAX_KEEP_PREVIOUS_SECONDS, newSigningSecret } from './signing';
import { WORKFLOW_COLUMNS, WORKFLOW_TYPE_COLUMNS, WorkflowRow } from './workflow.row';
import type { Workflow } from './workflow.type';
import { definitionValues, validated, workflowNotFound } from './workflow.service';

/** What a Workflow is read with (never the signing secrets). */
const WORKFLOW = selectList(WORKFLOW_TYPE_COLUMNS);

export interface UpdatedWorkflow {
  workflow: Workflow;
  /** Why the new definition cannot be started, or null when it can. */
  notStartableBecause: string | null;
}

export interface RotatedSigningSecret {
  workflowId: string;
  signingSecret: string;
  /** Until when the previous secret still signs too; null when it stopped at once. */
  previousValidUntil: Date | null;
}

/** The teammates (not deleted) that run a workflow; the teammates module answers (it owns their table). */
export type TeammatesRunning = (tx: EntityManager, workflowId: string) => Promise<Array<{ id: string; name: string }>>;

const SQL = {
  /** The new definition and its version row; no row when the workflow is missing or deleted. */
  update: statement(
    'workflows.update',
    `WITH updated AS (
       UPDATE workflows
          SET name = $2, start_step = $3, startable = $4, definition = $5::json, version = version + 1, updated_at = now()
        WHERE id = $1 AND deleted_at IS NULL
       RETURNING *
     ), new_version AS (
       INSERT INTO workflow_versions (workflow_id, version, definition, start_step, startable, created_at)
       SELECT id, version, definition, start_step, startable, updated_at FROM updated
     )
     SELECT ${WORKFLOW} FROM updated`,
  ),
  lockLive: statement('workflows.lock-live', `SELECT id FROM workflows WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`),
  markDeleted: statement(
    'workflows.mark-deleted',
    `UPDATE workflows SET deleted_at = now() WHERE id = $1 RETURNING ${selectList(pick(WORKFLOW_COLUMNS, 'deletedAt'))}`,
  ),
  /** Any organization's (admin commands). */
  live: statement('workflows.live', `SELECT ${WORKFLOW} FROM workflows WHERE id = $1 AND deleted_at IS NULL`),
  rotateSecret: statement(
    'workflows.rotate-secret',
    `UPDATE workflows
        SET previous_signing_secret = CASE WHEN $3::int > 0 THEN signing_secret END,
            previous_signing_secret_until = CASE WHEN $3::int > 0 THEN now() + make_interval(secs => $3::int) END,
            signing_secret = $2
      WHERE id = $1 AND deleted_at IS NULL
    RETURNING ${selectList(pick(WORKFLOW_COLUMNS, 'previousSigningSecretUntil'))}`,
  ),
};

/**
 * What the admin CLI does to any organization's workflow, by its id alone. Only the CLI gets it
 * (the composition root's `createAdmin`): the gateway's resolvers reach workflows through their
 * organization scope (organization-workflows.ts).
 */
export class WorkflowAdmin {
  private readonly sql: StatementRunner;

  constructor(
    db: DataSource,
    private readonly teammatesRunning: TeammatesRunning,
  ) {
    this.sql = new StatementRunner(db);
  }

  /**
   * Replaces the definition (an admin operation: any organization's workflow), checked exactly as
   * `createWorkflow` checks it, as a new version. Runs already started keep the version they
   * started with (the executor reads it from workflow_versions); runs started after the commit
   * get this one. Concurrent updates queue on the row lock and get consecutive versions.
   */
  async updateWorkflow(workflowId: string, input: unknown): Promise<UpdatedWorkflow> {
    const checked = validated(input);
    if (!isUuid(workflowId)) throw workflowNotFound();
    const workflow = await this.sql.first<Workflow>(SQL.update, [workflowId, ...definitionValues(checked)]);
    if (!workflow) throw workflowNotFound();
    return { workflow, notStartableBecause: checked.notStartableBecause };
  }

  /**
   * Deletes the workflow (an admin operation): `triggerWorkflow` and its teammates' calls then
   * answer WORKFLOW_NOT_FOUND, while its runs and request logs stay readable (the row stays, with
   * `deleted_at`). Runs already started finish. Refused, changing nothing, while a teammate that
   * is not deleted runs it. The row lock keeps a teammate from being pointed at the workflow
   * between the check and the delete (teammate changes take a share lock on it).
   */
  async deleteWorkflow(workflowId: string): Promise<{ workflowId: string; deletedAt: Date }> {
    if (!isUuid(workflowId)) throw workflowNotFound();
    return this.sql.transaction(async (tx) => {
      const workflow = await this.sql.first<{ id: string }>(SQL.lockLive, [workflowId], tx);
      if (!workflow) throw workflowNotFound();
      const users = await this.teammatesRunning(tx, workflowId);
      if (users.length) {
        const named = users.map((t) => `${JSON.stringify(t.name)} (${t.id})`).join(', ');
        throw new AppError(
          ErrorCode.WORKFLOW_IN_USE,
          `The workflow is used by ${users.length === 1 ? 'teammate' : 'teammates'} ${named}; ` +
            `delete ${users.length === 1 ? 'it' : 'them'} or move ${users.length === 1 ? 'it' : 'them'} to another workflow ` +
            '(alloy teammate update --workflow) first; nothing was changed',
          { teammates: users.map((t) => ({ teammateId: t.id, name: t.name })) },
        );
      }
      const deleted = await this.sql.first<{ deletedAt: Date }>(SQL.markDeleted, [workflowId], tx);
      return { workflowId: workflow.id, deletedAt: deleted!.deletedAt };
    });
  }

  /** Any organization's workflow that is not deleted (admin commands), or WORKFLOW_NOT_FOUND. */
  async requireWorkflow(workflowId: string): Promise<Workflow> {
    if (!isUuid(workflowId)) throw workflowNotFound();
    const workflow = await this.sql.first<Workflow>(SQL.live, [workflowId]);
    if (!workflow) throw workflowNotFound();
    return workflow;
  }

  /**
   * A new signing secret for the workflow (an admin operation: any organization's workflow). With
   * `keepPreviousSeconds`, the old secret keeps signing too for that long, so that targets can
   * switch to the new one without refusing a call in between.
   */
  async rotateSigningSecret(workflowId: string, keepPreviousSeconds = 0): Promise<RotatedSigningSecret> {
    if (!Number.isInteger(keepPreviousSeconds) || keepPreviousSeconds < 0 || keepPreviousSeconds > MAX_KEEP_PREVIOUS_SECONDS) {
      throw badInput(`keep-previous must be a whole number of seconds from 0 to ${MAX_KEEP_PREVIOUS_SECONDS}`, {
        argument: 'keep-previous',
      });
    }
    if (!isUuid(workflowId)) throw workflowNotFound();
    const signingSecret = newSigningSecret();
    const row = await this.sql.first<Pick<WorkflowRow, 'previousSigningSecretUntil'>>(SQL.rotateSecret, [
      workflowId,
      signingSecret,
      keepPreviousSeconds,
    ]);
    if (!row) throw workflowNotFound();
    return { workflowId, signingSecret, previousValidUntil: row.previousSigningSecretUntil };
  }
}
