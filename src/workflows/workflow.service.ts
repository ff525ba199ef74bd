import { createHash, randomUUID } from 'node:crypto';
import { DataSource, In } from 'typeorm';
import { isUuid } from '../auth/organization.service';
import { Organization } from '../auth/organization.entity';
import { AppError, badInput, ErrorCode, notFound } from '../graphql/errors';
import type { Queue } from '../queue/queue';
import { DefinitionError, validateDefinition } from './definition';
import { checkIdempotencyKey } from './idempotency-key';
import { MAX_KEEP_PREVIOUS_SECONDS, newSigningSecret } from './signing';
import { runQueuedLocally } from './run-executor';
import { enqueueRun } from './run-queue';
import { RunChannel, StepResult, WorkflowRun, WorkflowRunStatus } from './workflow-run.entity';
import { Workflow } from './workflow.entity';

export const MAX_PAYLOAD_BYTES = 1024 * 1024;
export const IDEMPOTENCY_WINDOW_HOURS = 24;

export interface StartRunRequest {
  organizationId: string;
  workflowId: string;
  payload: unknown;
  idempotencyKey?: string | null;
  channel: RunChannel;
  teammateId?: string | null;
  apiKeyId?: string | null;
}

export interface CreatedWorkflow {
  workflow: Workflow;
  /** Why the stored workflow cannot be started, or null when it can. */
  notStartableBecause: string | null;
  /** Signs its http steps' requests; shown to the creator once (`alloy workflow create`). */
  signingSecret: string;
}

export interface RotatedSigningSecret {
  workflowId: string;
  signingSecret: string;
  /** Until when the previous secret still signs too; null when it stopped at once. */
  previousValidUntil: Date | null;
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

const workflowNotFound = () => new AppError(ErrorCode.WORKFLOW_NOT_FOUND, 'Workflow not found');

/** Workflow definitions and starting runs. The executor (run-executor.ts) takes it from there. */
export class WorkflowService {
  constructor(private readonly db: DataSource, private readonly queue: Queue) {}

  async createWorkflow(organizationId: string, input: unknown): Promise<CreatedWorkflow> {
    let validated;
    try {
      validated = validateDefinition(input);
    } catch (error) {
      if (error instanceof DefinitionError) throw badInput(error.message, { problems: error.problems });
      throw error;
    }
    if (!isUuid(organizationId) || !(await this.db.getRepository(Organization).exists({ where: { id: organizationId } }))) {
      throw notFound('organization');
    }
    const repo = this.db.getRepository(Workflow);
    const signingSecret = newSigningSecret();
    const workflow = await repo.save(
      repo.create({
        organizationId,
        name: validated.definition.name,
        startStep: validated.startStep,
        startable: validated.startable,
        definition: validated.definition,
        signingSecret,
      }),
    );
    return { workflow, notStartableBecause: validated.notStartableBecause, signingSecret };
  }

  /**
   * A new signing secret for the workflow (an admin operation: any organization's workflow). With
   * `keepPreviousSeconds`, the old secret keeps signing too for that long, so that targets can
   * switch to the new one without refusing a call in between.
   */
  async rotateSigningSecret(workflowId: string, keepPreviousSeconds = 0): Promise<RotatedSigningSecret> {
    if (!Number.isInteger(keepPreviousSeconds) || keepPreviousSeconds < 0 || keepPreviousSeconds > MAX_KEEP_PREVIOUS_SECONDS) {
      throw badInput(`keep-previous must be a whole number of seconds from 0 to ${MAX_KEEP_PREVIOUS_SECONDS}`, { argument: 'keep-previous' });
    }
    if (!isUuid(workflowId)) throw workflowNotFound();
    const signingSecret = newSigningSecret();
    const [rows] = await this.db.query(
      `UPDATE workflows
          SET previous_signing_secret = CASE WHEN $3::int > 0 THEN signing_secret END,
              previous_signing_secret_until = CASE WHEN $3::int > 0 THEN now() + make_interval(secs => $3::int) END,
              signing_secret = $2
        WHERE id = $1
      RETURNING previous_signing_secret_until`,
      [workflowId, signingSecret, keepPreviousSeconds],
    );
    if (rows.length === 0) throw workflowNotFound();
    return { workflowId, signingSecret, previousValidUntil: rows[0].previous_signing_secret_until };
  }

  /** The organization's workflow, or null (another organization's reads as missing). */
  async findWorkflow(organizationId: string, id: string): Promise<Workflow | null> {
    if (!isUuid(id)) return null;
    return this.db.getRepository(Workflow).findOne({ where: { id, organizationId } });
  }

  /** For DataLoader: the workflows of these ids, in the same order (null where missing). */
  async workflowsByIds(organizationId: string, ids: readonly string[]): Promise<Array<Workflow | null>> {
    const valid = ids.filter(isUuid);
    const found = valid.length
      ? await this.db.getRepository(Workflow).find({ where: { id: In([...new Set(valid)]), organizationId } })
      : [];
    const byId = new Map(found.map((w) => [w.id, w]));
    // PostgreSQL reads a uuid in any case and gives it back in lower case.
    return ids.map((id) => byId.get(id.toLowerCase()) ?? null);
  }

  async findRun(organizationId: string, id: string): Promise<WorkflowRun | null> {
    if (!isUuid(id)) return null;
    return this.db.getRepository(WorkflowRun).findOne({ where: { id, organizationId } });
  }

  /**
   * Starts a run: in one transaction the run is inserted as QUEUED and its job is put on the
   * queue, so neither exists without the other. With an idempotency key, the first start within
   * 24 hours wins and every later (or concurrent) start with that key gets its run.
   */
  async startRun(request: StartRunRequest): Promise<WorkflowRun> {
    const payload = request.payload ?? null;
    const payloadBytes = Buffer.byteLength(JSON.stringify(payload));
    if (payloadBytes > MAX_PAYLOAD_BYTES) {
      throw badInput(`The payload is ${payloadBytes} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES} (1 MB)`, { argument: 'payload' });
    }
    const key = checkIdempotencyKey(request.idempotencyKey);
    if (!isUuid(request.workflowId)) throw workflowNotFound();
    const requestHash = createHash('sha256')
      .update(canonicalJson({ channel: request.channel, teammate: request.teammateId ?? null, workflow: request.workflowId, payload }))
      .digest('hex');

    const run = await this.db.transaction(async (tx) => {
      // FOR SHARE: the workflow cannot be deleted between this check and the run's insert.
      const [workflow]: Array<{ start_step: string | null; startable: boolean }> = await tx.query(
        `SELECT start_step, startable FROM workflows WHERE id = $1 AND organization_id = $2 FOR SHARE`,
        [request.workflowId, request.organizationId],
      );
      if (!workflow) throw workflowNotFound();
      if (!workflow.startable || !workflow.start_step) {
        throw new AppError(ErrorCode.WORKFLOW_NOT_STARTABLE, 'This workflow has no valid startStep, so it cannot be started');
      }

      const runId = randomUUID();
      if (key !== null) {
        // Concurrent callers with one key block here until the first commits, then see its row.
        const claimed: Array<{ run_id: string }> = await tx.query(
          `INSERT INTO workflow_idempotency_keys (organization_id, key, run_id, request_hash, expires_at)
           VALUES ($1, $2, $3, $4, now() + make_interval(hours => $5))
           ON CONFLICT (organization_id, key) DO UPDATE
             SET run_id = EXCLUDED.run_id, request_hash = EXCLUDED.request_hash, expires_at = EXCLUDED.expires_at
             WHERE workflow_idempotency_keys.expires_at <= now()
           RETURNING run_id`,
          [request.organizationId, key, runId, requestHash, IDEMPOTENCY_WINDOW_HOURS],
        );
        if (claimed.length === 0) {
          const [existing]: Array<{ run_id: string; request_hash: string }> = await tx.query(
            `SELECT run_id, request_hash FROM workflow_idempotency_keys WHERE organization_id = $1 AND key = $2`,
            [request.organizationId, key],
          );
          if (existing.request_hash !== requestHash) {
            throw badInput('This idempotencyKey was already used in the last 24 hours for a different request (target or payload)', {
              argument: 'idempotencyKey',
            });
          }
          const run = await tx.getRepository(WorkflowRun).findOne({ where: { id: existing.run_id, organizationId: request.organizationId } });
          if (!run) throw new Error(`idempotency key points at missing run ${existing.run_id}`);
          return run;
        }
      }

      // The answer is built from what the insert returns (the values the database stored, e.g. the
      // payload as the json column gives it back) instead of reading the row again: one round trip less
      // while the transaction holds a pooled connection.
      const [stored]: Array<{ payload: unknown; step_results: Record<string, StepResult>; recoveries: number; created_at: Date }> = await tx.query(
        `INSERT INTO workflow_runs (id, organization_id, workflow_id, teammate_id, channel, api_key_id, status, payload, next_step)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9)
         RETURNING payload, step_results, recoveries, created_at`,
        [
          runId,
          request.organizationId,
          request.workflowId,
          request.teammateId ?? null,
          request.channel,
          request.apiKeyId ?? null,
          WorkflowRunStatus.QUEUED,
          payload === null ? null : JSON.stringify(payload),
          workflow.start_step,
        ],
      );
      await enqueueRun(this.queue, tx, runId);
      return Object.assign(new WorkflowRun(), {
        id: runId,
        organizationId: request.organizationId,
        workflowId: request.workflowId,
        teammateId: request.teammateId ?? null,
        channel: request.channel,
        apiKeyId: request.apiKeyId ?? null,
        status: WorkflowRunStatus.QUEUED,
        payload: stored.payload,
        output: null,
        error: null,
        steps: stored.step_results,
        nextStep: workflow.start_step,
        leaseToken: null,
        leaseUntil: null,
        recoveries: stored.recoveries,
        statusSeq: 1,
        createdAt: stored.created_at,
        startedAt: null,
        finishedAt: null,
      } satisfies Omit<WorkflowRun, 'workflow'>);
    });
    if (run.status === WorkflowRunStatus.QUEUED) runQueuedLocally.emit('queued');
    return run;
  }
}
