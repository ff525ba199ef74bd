import { createHash, randomUUID } from 'node:crypto';
import { DataSource, In } from 'typeorm';
import { isUuid } from '../auth/organization.service';
import { Organization } from '../auth/organization.entity';
import { AppError, badInput, ErrorCode, notFound } from '../graphql/errors';
import { DefinitionError, validateDefinition } from './definition';
import { checkIdempotencyKey } from './idempotency-key';
import { MAX_KEEP_PREVIOUS_SECONDS, newSigningSecret } from './signing';
import { RunStateMachine } from './run-state';
import { RunChannel, WorkflowRun, WorkflowRunStatus } from './workflow-run.entity';
import { Workflow } from './workflow.entity';

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
  private readonly runs: RunStateMachine;

  constructor(private readonly db: DataSource) {
    this.runs = new RunStateMachine(db);
  }

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
    const key = checkIdempotencyKey(request.idempotencyKey);
    const teammateId = request.teammateId ?? null;
    if (teammateId === null ? !isUuid(request.workflowId ?? '') : !isUuid(teammateId)) {
      throw teammateId === null ? workflowNotFound() : notFound('Teammate');
    }
    // A teammate's request is named by the teammate (its workflow is only known to the statement).
    const target = teammateId === null ? { teammate: null, workflow: request.workflowId } : { teammate: teammateId.toLowerCase() };
    const requestHash = createHash('sha256')
      .update(canonicalJson({ channel: request.channel, ...target, payload }))
      .digest('hex');

    const runId = randomUUID();
    const outcome = await this.runs.start({
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
    });
    if (teammateId !== null && !outcome.teammateFound) throw notFound('Teammate');
    if (teammateId !== null && !outcome.apiEnabled) {
      throw new AppError(ErrorCode.CHANNEL_DISABLED, 'This teammate has no API channel, so it cannot be called through the API');
    }
    if (!outcome.workflowFound) throw workflowNotFound();
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
      const existing = await this.db.getRepository(WorkflowRun).findOne({ where: { id: outcome.keyRunId!, organizationId: request.organizationId } });
      if (!existing) throw new Error(`idempotency key points at missing run ${outcome.keyRunId}`);
      return existing;
    }
    // The answer is built from what the insert returned (the payload as the json column gives it
    // back) instead of reading the row again.
    return Object.assign(new WorkflowRun(), {
      id: runId,
      organizationId: request.organizationId,
      workflowId: outcome.workflowId!,
      teammateId,
      channel: request.channel,
      apiKeyId: request.apiKeyId ?? null,
      status: WorkflowRunStatus.QUEUED,
      payload: outcome.payload,
      output: null,
      error: null,
      steps: {},
      nextStep: outcome.startStep,
      leaseToken: null,
      leaseUntil: null,
      recoveries: 0,
      statusSeq: 1,
      createdAt: outcome.createdAt,
      startedAt: null,
      finishedAt: null,
    } satisfies Omit<WorkflowRun, 'workflow'>);
  }
}
