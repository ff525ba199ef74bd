import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * An idempotency key of `triggerWorkflow` / `callTeammate`, live for 24 hours. Its primary key
 * makes concurrent starts with one key serialize on the insert (INSERT … ON CONFLICT), so they
 * all get the same run.
 */
@Entity({ name: 'workflow_idempotency_keys' })
export class WorkflowIdempotencyKey {
  @PrimaryColumn('uuid', { name: 'organization_id' })
  organizationId: string;

  @PrimaryColumn('text')
  key: string;

  @Column('uuid', { name: 'run_id' })
  runId: string;

  /** SHA-256 of what was started (target and payload): the same key with other content is refused. */
  @Column('text', { name: 'request_hash' })
  requestHash: string;

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt: Date;
}
