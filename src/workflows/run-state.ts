import type { DataSource, EntityManager } from 'typeorm';
import { pick, selectList } from '../db/columns';
import { retryOnDeadlock } from '../db/postgres-errors';
import { statement, StatementRunner } from '../db/statements';
import { WriteBatcher } from '../db/write-batcher';
import type { WorkflowDefinition } from './definition';
import { CallbackQueue, queueCallbacks } from './run-callbacks';
import { announcementsOf, eventColumns, NewRunEvent } from './run-event-log';
import { announcementOf, type RunAnnouncer, type RunEvent } from './run-events';
import { runTimeOf, runTimesOf } from './run-partitions';
import type { StepResult } from './steps/step-type';
import { RUN_COLUMNS, RunRow } from './workflow-run.row';
import { WorkflowRunStatus } from './workflow-run.type';
import { WORKFLOW_COLUMNS, WORKFLOW_VERSION_COLUMNS } from './workflow.row';

/*
 * The run state machine, and every statement that moves a run: start (→ QUEUED), claim
 * (QUEUED → RUNNING), renew, save progress, release (RUNNING → QUEUED), sweep (lapsed RUNNING →
 * QUEUED or FAILED) and finish (RUNNING → SUCCEEDED or FAILED). The `workflow_runs` row is the
 * queue: workers claim QUEUED rows with FOR UPDATE SKIP LOCKED. Each statement that changes a
 * status returns the run's new `status_seq`, and the change is announced right after the commit
 * (RunAnnouncer), which is what wakes workers, waiting requests and subscriptions. Every write
 * after the claim is fenced by the claim's lease token, so a worker whose lease was taken over
 * writes nothing.
 */

/** What one start statement found and did; the caller turns it into the answer or the error. */
export interface StartOutcome {
  teammateFound: boolean;
  apiEnabled: boolean;
  workflowFound: boolean;
  workflowId: string | null;
  /** The workflow's starting step, when it can be started (and, for a teammate, its channel is on). */
  startStep: string | null;
  /** With an idempotency key: the run the key names now (this start's run id if it won the key). */
  keyRunId: string | null;
  keyRequestHash: string | null;
  /** Set when this statement inserted the run. */
  payload: unknown;
  createdAt: Date | null;
  /** The workflow version the run was started with (its definition is the one the run executes). */
  workflowVersion: number | null;
  /** False when a `conversationId` was given that is no conversation of this teammate and organization. */
  conversationFound: boolean;
  /** The conversation of the inserted run (the one given, or the one this start created). */
  conversationId: string | null;
}

/** How a run was started: `triggerWorkflow` or a teammate's `API` channel (`callTeammate`). */
export type RunChannel = 'TRIGGER' | 'API';

export interface StartParams {
  runId: string;
  organizationId: string;
  /** Null when the run is a teammate's: its workflow is read in the same statement. */
  workflowId: string | null;
  teammateId: string | null;
  channel: RunChannel;
  apiKeyId: string | null;
  /** The payload as JSON text, or null. */
  payloadJson: string | null;
  idempotencyKey: string | null;
  /** What the key's request was (null without a key). */
  requestHash: string | null;
  keyWindowHours: number;
  /** A teammate's conversation to continue (checked in the statement), or null. */
  conversationId?: string | null;
  /** A teammate's call without `conversationId`: the id and title of the conversation it starts. */
  newConversation?: { id: string; title: string } | null;
  /** The files the run is given (RunFiles as JSON text), or null. */
  filesJson?: string | null;
  /** The run this one reruns (rerunWorkflowRun). */
  rerunOf?: string | null;
  /** Where the run's end is POSTed (checked http/https URL). */
  callbackUrl?: string | null;
}

/** The run fields a claim reads (CLAIMED); a `callbackUrl` means that finishing the run also queues its callback. */
const CLAIMED_FIELDS = [
  'id',
  'organizationId',
  'statusSeq',
  'workflowId',
  'payload',
  'steps',
  'nextStep',
  'leaseToken',
  'conversationId',
  'files',
  'createdAt',
  'callbackUrl',
] as const;

/** A run a worker claimed: the run, the definition of the version it started with, and its workflow's signing secrets (current first). */
export interface ClaimedRun extends Pick<RunRow, (typeof CLAIMED_FIELDS)[number]> {
  leaseToken: string;
  definition: WorkflowDefinition;
  signingSecrets: string[];
}

/** What a claim returns of each run it took (a ClaimedRun). */
const CLAIMED = [
  selectList(pick(RUN_COLUMNS, ...CLAIMED_FIELDS), { from: 'r' }),
  selectList(WORKFLOW_VERSION_COLUMNS, { from: 'v' }),
  selectList(pick(WORKFLOW_COLUMNS, 'signingSecrets'), { from: 'w' }),
].join(', ');

/** What a status-changing statement returns, to announce the change (and queue the callback of a final one). */
const CHANGED = pick(RUN_COLUMNS, 'organizationId', 'statusSeq', 'callbackUrl');

export const DEFAULT_MAX_RECOVERIES = 2;

/**
 * The claim, as CTEs (`next`: the oldest queued runs, locked, skipping those another claim
 * holds; `claimed`: them RUNNING under a new lease, as ClaimedRun's columns), for the claim's own
 * statement and for the finish that claims in the finished runs' place.
 */
const claimed = (limit: string, leaseSeconds: string) => `next AS (
       SELECT id, created_at FROM workflow_runs WHERE status = 'QUEUED' ORDER BY created_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE workflow_runs r
          SET status = 'RUNNING', started_at = COALESCE(r.started_at, now()), lease_token = gen_random_uuid(),
              lease_until = now() + make_interval(secs => ${leaseSeconds}::float8)
         FROM next, workflows w, workflow_versions v
        WHERE r.id = next.id AND r.created_at = next.created_at
          AND r.created_at BETWEEN (SELECT min(created_at) FROM next) AND (SELECT max(created_at) FROM next)
          AND w.id = r.workflow_id AND v.workflow_id = r.workflow_id AND v.version = r.workflow_version
       RETURNING ${CLAIMED}
     )`;

const SQL = {
  /*
   * One statement, one commit: the teammate and workflow checks (deleted ones are not found),
   * the idempotency-key claim and the insert, which records the workflow's current version. On a key conflict the key row is updated to itself unless it expired, because
   * only DO UPDATE returns the row a concurrent start committed (this statement's snapshot does
   * not see it): whoever's run id comes back owns the key, and only that start inserts a run.
   * A check that fails leaves both inserts without a row, so an error creates nothing.
   * A teammate's call continues the conversation $11 (which must be the teammate's) or creates
   * $12 with the run; the key of conversation_active_runs (filled by a trigger on the insert)
   * refuses a second active run of one conversation (the whole statement fails then: no key, no
   * run, no conversation). The run's created_at is its id's time, the key of its day's partition.
   * The run's created_at is its id's time (run_id_time), which finds it in its day's partition.
   */
  start: statement(
    'workflows.start-run',
    `WITH teammate AS (
       SELECT t.workflow_id, 'API' = ANY (t.channels) AS api_enabled
         FROM teammates t
        WHERE t.id = $3::uuid AND t.organization_id = $1::uuid AND t.deleted_at IS NULL
     ), workflow AS (
       SELECT w.id, w.start_step, w.version
         FROM workflows w
        WHERE w.organization_id = $1::uuid AND w.deleted_at IS NULL
          AND w.id = CASE WHEN $3::uuid IS NULL THEN $2::uuid ELSE (SELECT workflow_id FROM teammate) END
     ), conversation AS (
       SELECT c.id FROM conversations c WHERE c.id = $11::uuid AND c.organization_id = $1::uuid AND c.teammate_id = $3::uuid
     ), startable AS (
       SELECT id, start_step, version FROM workflow
        WHERE start_step IS NOT NULL AND ($3::uuid IS NULL OR (SELECT api_enabled FROM teammate))
          AND ($11::uuid IS NULL OR EXISTS (SELECT 1 FROM conversation))
     ), key_claim AS (
       INSERT INTO workflow_idempotency_keys AS k (organization_id, key, run_id, request_hash, expires_at)
       SELECT $1::uuid, $8::text, $4::uuid, $9::text, now() + make_interval(hours => $10::int)
         FROM startable WHERE $8::text IS NOT NULL
       ON CONFLICT (organization_id, key) DO UPDATE
          SET run_id = CASE WHEN k.expires_at <= now() THEN EXCLUDED.run_id ELSE k.run_id END,
              request_hash = CASE WHEN k.expires_at <= now() THEN EXCLUDED.request_hash ELSE k.request_hash END,
              expires_at = CASE WHEN k.expires_at <= now() THEN EXCLUDED.expires_at ELSE k.expires_at END
       RETURNING k.run_id, k.request_hash
     ), new_conversation AS (
       INSERT INTO conversations (id, organization_id, teammate_id, title)
       SELECT $12::uuid, $1::uuid, $3::uuid, $13::text
         FROM startable
        WHERE $12::uuid IS NOT NULL AND ($8::text IS NULL OR (SELECT run_id FROM key_claim) = $4::uuid)
     ), inserted AS (
       INSERT INTO workflow_runs (id, created_at, organization_id, workflow_id, workflow_version, teammate_id, channel, api_key_id, status,
                                  payload, next_step, conversation_id, files, rerun_of, callback_url)
       SELECT $4::uuid, run_id_time($4::uuid), $1::uuid, s.id, s.version, $3::uuid, $5::text, $6::uuid, 'QUEUED',
              $7::json, s.start_step, COALESCE($11::uuid, $12::uuid), $14::json, $15::uuid, $16::text
         FROM startable s
        WHERE $8::text IS NULL OR (SELECT run_id FROM key_claim) = $4::uuid
       RETURNING payload, created_at, workflow_version, conversation_id
     ), touched AS (
       UPDATE conversations c SET updated_at = i.created_at FROM inserted i WHERE c.id = i.conversation_id AND $11::uuid IS NOT NULL
     )
     SELECT EXISTS (SELECT 1 FROM teammate) AS "teammateFound",
            COALESCE((SELECT api_enabled FROM teammate), false) AS "apiEnabled",
            EXISTS (SELECT 1 FROM workflow) AS "workflowFound",
            (SELECT id FROM workflow) AS "workflowId",
            (SELECT start_step FROM startable) AS "startStep",
            (SELECT run_id FROM key_claim) AS "keyRunId",
            (SELECT request_hash FROM key_claim) AS "keyRequestHash",
            ($11::uuid IS NULL OR EXISTS (SELECT 1 FROM conversation)) AS "conversationFound",
            ${selectList(pick(RUN_COLUMNS, 'payload', 'createdAt', 'workflowVersion', 'conversationId'), { from: 'i' })}
       FROM (SELECT 1) AS one LEFT JOIN inserted i ON true`,
  ),

  /**
   * The oldest queued runs (a run handed back keeps its place), each with a lease token of its
   * own and the definition of the version it was started with (an update never changes a run
   * under way; the signing secrets are the workflow's current ones).
   */
  claim: statement('workflows.claim-runs', `WITH ${claimed('$1', '$2')} SELECT * FROM claimed`, { genericPlan: true }),

  /**
   * Every lease a worker holds, in one statement; the ids not returned were taken over. Rows
   * locked in id order, as the appends and finishes lock them: in whatever order the join met
   * them, a renewal and an append of the same worker's runs deadlocked now and then, each such
   * append waiting a second (deadlock_timeout) and retried (BENCHMARKS.md, run-events).
   */
  renew: statement(
    'workflows.renew-leases',
    `WITH locked AS (
       SELECT r.id, r.created_at FROM workflow_runs r
         JOIN unnest($1::uuid[], $2::uuid[]) AS held (id, token)
           ON r.id = held.id AND ${runTimesOf('r.created_at', 'held.id', '$1::uuid[]')} AND r.lease_token = held.token
        ORDER BY r.id FOR UPDATE OF r
     )
     UPDATE workflow_runs r SET lease_until = now() + make_interval(secs => $3::float8)
       FROM locked l
      WHERE r.id = l.id AND r.created_at = l.created_at AND ${runTimesOf('r.created_at', 'l.id', '$1::uuid[]')}
    RETURNING r.id`,
    { genericPlan: true },
  ),

  saveProgress: statement(
    'workflows.save-progress',
    `UPDATE workflow_runs SET step_results = $3::json, next_step = $4 WHERE id = $1 AND ${runTimeOf('created_at', '$1::uuid')} AND lease_token = $2`,
    { genericPlan: true },
  ),

  release: statement(
    'workflows.release-run',
    `UPDATE workflow_runs SET status = 'QUEUED', step_results = $3::json, next_step = $4, lease_token = NULL, lease_until = NULL
      WHERE id = $1 AND ${runTimeOf('created_at', '$1::uuid')} AND lease_token = $2
    RETURNING ${selectList(pick(CHANGED, 'organizationId', 'statusSeq'))}`,
    { genericPlan: true },
  ),

  /**
   * RUNNING → SUCCEEDED or FAILED for several runs in one statement and one commit (a worker's
   * finishes that wait while one is in flight), each with the events its executor had not written
   * yet (its last step's): the events numbered before the STATUS event the status change writes
   * (its trigger raises event_seq once more, so the RETURNING event_seq is the STATUS event's).
   * Fenced by each run's lease and only while it is RUNNING, like every write of a worker (a run
   * cancelled meanwhile is left CANCELLED, with none of these events); rows locked in id order,
   * as the appends lock them. The same statement claims up to $13 queued runs for the slots these
   * runs free (the claim's own statement, inside). Rows: each run finished (`claimed` false; one
   * without a row was not finished), then each run claimed.
   */
  finish: statement(
    'workflows.finish-runs',
    `WITH input AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[])
         AS i (id, token, status, output, error, steps, n)
     ), locked AS (
       SELECT r.id, r.created_at FROM workflow_runs r
         JOIN input i ON i.id = r.id AND ${runTimesOf('r.created_at', 'i.id', '$1::uuid[]')} AND r.lease_token = i.token
        WHERE r.status = 'RUNNING' ORDER BY r.id FOR UPDATE OF r
     ), run AS (
       UPDATE workflow_runs r
          SET status = i.status, output = i.output::json, error = i.error, step_results = i.steps::json, next_step = NULL,
              finished_at = now(), lease_token = NULL, lease_until = NULL, event_seq = r.event_seq + i.n
         FROM input i, locked l
        WHERE r.id = i.id AND l.id = r.id AND r.created_at = l.created_at AND ${runTimesOf('r.created_at', 'i.id', '$1::uuid[]')}
       RETURNING r.id, r.created_at, r.organization_id, r.status_seq, r.event_seq, r.callback_url, i.n
     ), added AS (
       INSERT INTO workflow_run_events (run_id, run_created_at, seq, type, step, data)
       SELECT e.run_id, run.created_at, run.event_seq - 1 - run.n + e.k, e.type, e.step, e.data::json
         FROM unnest($8::uuid[], $9::int[], $10::text[], $11::text[], $12::text[]) AS e (run_id, k, type, step, data)
         JOIN run ON run.id = e.run_id
       RETURNING run_id, seq, at
     ), ${claimed('$13', '$14')}
     SELECT false AS claimed, ${selectList(pick(RUN_COLUMNS, 'id', 'organizationId', 'statusSeq', 'eventSeq', 'callbackUrl'), { from: 'run' })},
            (SELECT array_agg(a.at ORDER BY a.seq) FROM added a WHERE a.run_id = run.id) AS ats,
            NULL::uuid AS "workflowId", NULL::json AS payload, NULL::json AS steps, NULL::text AS "nextStep",
            NULL::uuid AS "leaseToken", NULL::uuid AS "conversationId", NULL::json AS files, NULL::timestamptz AS "createdAt",
            NULL::json AS definition, NULL::text[] AS "signingSecrets"
       FROM run
     UNION ALL
     SELECT true, id, "organizationId", "statusSeq", NULL, "callbackUrl", NULL, "workflowId", payload, steps, "nextStep",
            "leaseToken", "conversationId", files, "createdAt", definition, "signingSecrets"
       FROM claimed`,
    { genericPlan: true },
  ),

  /**
   * QUEUED or RUNNING → CANCELLED, in one statement. A queued run is never claimed after it (the
   * claim takes QUEUED rows only); a running one loses its lease token, which fences every later
   * write of its worker (progress, events, finish), and its worker aborts the step in flight when
   * the announcement or its poll (lostLeases) tells it. A run that has finished is not touched:
   * the row lock orders cancel and finish, so a run is never both cancelled and succeeded.
   */
  cancel: statement(
    'workflows.cancel-run',
    `UPDATE workflow_runs
        SET status = 'CANCELLED', error = 'The run was cancelled', next_step = NULL, finished_at = now(),
            lease_token = NULL, lease_until = NULL
      WHERE id = $1 AND ${runTimeOf('created_at', '$1::uuid')} AND organization_id = $2 AND status IN ('QUEUED', 'RUNNING')
    RETURNING ${selectList(CHANGED)}`,
    { genericPlan: true },
  ),

  /** Of the leases a worker holds, those that are no longer its own (cancelled, or taken over). */
  lostLeases: statement(
    'workflows.lost-leases',
    `SELECT held.id FROM unnest($1::uuid[], $2::uuid[]) AS held (id, token)
      WHERE NOT EXISTS (SELECT 1 FROM workflow_runs r
                         WHERE r.id = held.id AND ${runTimesOf('r.created_at', 'held.id', '$1::uuid[]')} AND r.lease_token = held.token)`,
    { genericPlan: true },
  ),

  /** Lapsed leases: back to the queue at their next step, or FAILED once recovered $1 times. SKIP LOCKED keeps sweepers apart. */
  sweep: statement(
    'workflows.sweep-leases',
    `WITH lapsed AS (
       SELECT id, created_at, recoveries FROM workflow_runs
        WHERE status = 'RUNNING' AND lease_until < now()
        ORDER BY lease_until LIMIT 100 FOR UPDATE SKIP LOCKED
     )
     UPDATE workflow_runs r
        SET status = CASE WHEN l.recoveries < $1 THEN 'QUEUED' ELSE 'FAILED' END,
            recoveries = CASE WHEN l.recoveries < $1 THEN l.recoveries + 1 ELSE l.recoveries END,
            finished_at = CASE WHEN l.recoveries < $1 THEN NULL ELSE now() END,
            error = CASE WHEN l.recoveries < $1 THEN NULL
                         ELSE 'The worker running this run stopped responding ' || (l.recoveries + 1) || ' times; giving up' END,
            lease_token = NULL, lease_until = NULL
       FROM lapsed l
      WHERE r.id = l.id AND r.created_at = l.created_at
        AND r.created_at BETWEEN (SELECT min(created_at) FROM lapsed) AND (SELECT max(created_at) FROM lapsed)
    RETURNING ${selectList(pick(RUN_COLUMNS, 'id', 'status'), { from: 'r' })}, ${selectList(CHANGED, { from: 'r' })}`,
    { genericPlan: true },
  ),

  /** Expired idempotency keys are overwritten on reuse; this only keeps the table small. */
  dropExpiredKeys: statement(
    'workflows.drop-expired-keys',
    `DELETE FROM workflow_idempotency_keys
      WHERE ctid IN (SELECT ctid FROM workflow_idempotency_keys WHERE expires_at < now() LIMIT 1000)`,
  ),
};

/** The announcements of claimed runs. */
const runningOf = (claimed: ClaimedRun[]): RunEvent[] => claimed.map((run) => announcementOf(run, WorkflowRunStatus.RUNNING));

/** What a status-changing statement returns (CHANGED), to announce the change. */
interface Changed extends Record<string, unknown> {
  organizationId: string;
  statusSeq: number;
  callbackUrl?: string | null;
}

/** A row of the finish statement: a run it finished, or (`claimed`) one it claimed. */
type FinishRow = ClaimedRun & { claimed: boolean; eventSeq: number; ats: Date[] };

/** How a run ended, as its executor finishes it. */
export interface RunEnd {
  status: 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  error?: string;
}

interface Finish {
  lease: Lease;
  steps: Record<string, StepResult>;
  end: RunEnd;
  hasCallback: boolean;
  events: NewRunEvent[];
  /** Claim a queued run in this one's place, for this many seconds; null: don't. */
  claimFor: number | null;
}

/** What a finish did: whether it finished the run, and the run claimed in its place (null: none was queued; undefined: none asked). */
export interface Finished {
  finished: boolean;
  next?: ClaimedRun | null;
}

/** Runs whose finishes go in one statement at most. */
const MAX_RUNS_PER_FINISH = 200;

/** A run's lease, as the worker holding it knows it. */
export interface Lease {
  runId: string;
  token: string;
}

export interface RunStateOptions {
  announcer: RunAnnouncer;
  /**
   * Queues completion callbacks in the transaction that finalizes a run. Every process the
   * composition root builds passes it; without it (tests of other things) a callback is not sent.
   */
  callbacks?: CallbackQueue;
}

export class RunStateMachine {
  private readonly sql: StatementRunner;
  private readonly announcer: RunAnnouncer;
  private readonly callbacks: CallbackQueue | undefined;
  private readonly finishes = new WriteBatcher<Finish, Finished>(
    (batch) => this.writeFinishes(batch),
    (f) => f.lease.runId,
    MAX_RUNS_PER_FINISH,
  );

  constructor(db: DataSource, options: RunStateOptions) {
    this.sql = new StatementRunner(db);
    this.announcer = options.announcer;
    this.callbacks = options.callbacks;
  }

  /**
   * Runs a finalizing statement; when the run it finalized has a callback URL, in a transaction
   * that also queues the callback, so that the callback exists if and only if the end committed.
   */
  private async finalizing<T extends Changed>(hasCallback: boolean, write: (tx?: EntityManager) => Promise<T[]>): Promise<T[]> {
    const callbacks = this.callbacks;
    if (!hasCallback || !callbacks) return write();
    return this.sql.transaction(async (tx) => {
      const rows = await write(tx);
      const ids = rows.filter((r) => r.callbackUrl && r.final !== false).map((r) => r.runId as string);
      await queueCallbacks(callbacks, ids, tx);
      return rows;
    });
  }

  async start(params: StartParams): Promise<StartOutcome> {
    const row = await this.sql.first<StartOutcome & Record<string, unknown>>(SQL.start, [
      params.organizationId,
      params.workflowId,
      params.teammateId,
      params.runId,
      params.channel,
      params.apiKeyId,
      params.payloadJson,
      params.idempotencyKey,
      params.requestHash,
      params.keyWindowHours,
      params.conversationId ?? null,
      params.newConversation?.id ?? null,
      params.newConversation?.title ?? null,
      params.filesJson ?? null,
      params.rerunOf ?? null,
      params.callbackUrl ?? null,
    ]);
    const outcome = row as StartOutcome;
    if (outcome.createdAt !== null) {
      this.announcer.announce([
        announcementOf({ id: params.runId, organizationId: params.organizationId, statusSeq: 1 }, WorkflowRunStatus.QUEUED),
      ]);
    }
    return outcome;
  }

  /** Claims up to `limit` queued runs for `leaseSeconds`. */
  async claim(limit: number, leaseSeconds: number): Promise<ClaimedRun[]> {
    const claimed = await this.sql.rows<ClaimedRun & Record<string, unknown>>(SQL.claim, [limit, leaseSeconds]);
    this.announcer.announce(runningOf(claimed));
    return claimed;
  }

  /** Renews the given leases; answers the run ids whose lease is still this worker's. */
  async renew(leases: Lease[], leaseSeconds: number): Promise<Set<string>> {
    if (leases.length === 0) return new Set();
    const rows = await this.sql.rows<{ id: string }>(SQL.renew, [leases.map((l) => l.runId), leases.map((l) => l.token), leaseSeconds]);
    return new Set(rows.map((r) => r.id));
  }

  /** False when the lease was taken over (the run is another worker's now). */
  async saveProgress(lease: Lease, steps: Record<string, StepResult>, nextStep: string): Promise<boolean> {
    return (await this.sql.run(SQL.saveProgress, [lease.runId, lease.token, JSON.stringify(steps), nextStep])).rowCount === 1;
  }

  /** Stopping: the finished steps are kept and the run is QUEUED again at `nextStep`. */
  async release(lease: Lease, steps: Record<string, StepResult>, nextStep: string): Promise<boolean> {
    const row = await this.sql.first<Changed>(SQL.release, [lease.runId, lease.token, JSON.stringify(steps), nextStep]);
    return this.announced(lease.runId, WorkflowRunStatus.QUEUED, row);
  }

  private announced(runId: string, status: WorkflowRunStatus, row: Changed | null): boolean {
    if (!row) return false;
    this.announcer.announce([announcementOf({ id: runId, organizationId: row.organizationId, statusSeq: row.statusSeq }, status)]);
    return true;
  }

  /**
   * RUNNING → SUCCEEDED or FAILED, with `events` (the last step's, not written yet) stored before
   * the STATUS event, together with the finishes of other runs waiting then (one statement, one
   * commit); false when the lease was lost or the run cancelled meanwhile (nothing is written).
   */
  async finish(
    lease: Lease,
    steps: Record<string, StepResult>,
    end: RunEnd,
    hasCallback = false,
    events: NewRunEvent[] = [],
  ): Promise<boolean> {
    return (await this.finishes.add({ lease, steps, end, hasCallback, events, claimFor: null })).finished;
  }

  /**
   * `finish`, and with `claimFor` (lease seconds) a queued run claimed in the same statement for the
   * slot the run frees: a worker with a backlog then makes one statement and one announcement per
   * round of runs, not a finish and a claim.
   */
  finishAndClaim(
    lease: Lease,
    steps: Record<string, StepResult>,
    end: RunEnd,
    hasCallback: boolean,
    events: NewRunEvent[],
    claimFor: number | null,
  ): Promise<Finished> {
    return this.finishes.add({ lease, steps, end, hasCallback, events, claimFor });
  }

  private async writeFinishes(batch: Finish[]): Promise<Finished[]> {
    const { values, texts } = eventColumns(batch.map((f) => ({ runId: f.lease.runId, events: f.events })));
    const claiming = batch.filter((f) => f.claimFor !== null);
    const params = [
      batch.map((f) => f.lease.runId),
      batch.map((f) => f.lease.token),
      batch.map((f) => f.end.status),
      batch.map((f) => (f.end.output === undefined || f.end.output === null ? null : JSON.stringify(f.end.output))),
      batch.map((f) => f.end.error ?? null),
      batch.map((f) => JSON.stringify(f.steps)),
      batch.map((f) => f.events.length),
      ...values,
      claiming.length,
      claiming.length ? Math.max(...claiming.map((f) => f.claimFor!)) : 0,
    ];
    const rows = await retryOnDeadlock(() =>
      this.finalizing(
        batch.some((f) => f.hasCallback),
        async (tx) =>
          (await this.sql.rows<FinishRow>(SQL.finish, params, tx)).map((r) => ({
            ...r,
            runId: r.id,
            final: !r.claimed,
          })),
      ),
    );
    const finished = new Map(rows.filter((row) => !row.claimed).map((row) => [row.id, row]));
    const next: ClaimedRun[] = rows.filter((row) => row.claimed);
    this.announcer.announce([
      ...batch.flatMap((f, i): RunEvent[] => {
        const row = finished.get(f.lease.runId);
        if (!row) return [];
        // The events as an append of the RUNNING run would have announced them, then the status change.
        const appended = f.events.length
          ? announcementsOf(
              { id: row.id, organizationId: row.organizationId, statusSeq: row.statusSeq - 1, eventSeq: row.eventSeq - 1, ats: row.ats },
              f.events,
              texts[i],
            )
          : [];
        return [...appended, announcementOf(row, f.end.status as WorkflowRunStatus)];
      }),
      ...runningOf(next),
    ]);
    // Each run that asked for a successor gets one of those claimed, while there are.
    let taken = 0;
    return batch.map((f) => ({
      finished: finished.has(f.lease.runId),
      ...(f.claimFor === null ? {} : { next: next[taken++] ?? null }),
    }));
  }

  /**
   * QUEUED or RUNNING → CANCELLED (and its callback queued); false when the organization has no
   * such run that is still queued or running (the caller reads it as it is).
   */
  async cancel(organizationId: string, runId: string): Promise<boolean> {
    // The callback URL is only known from the row the cancel moves: always in a transaction when callbacks are on.
    const [row] = await this.finalizing(true, async (tx) =>
      (await this.sql.rows<Changed>(SQL.cancel, [runId, organizationId], tx)).map((r) => ({ ...r, runId })),
    );
    return this.announced(runId, WorkflowRunStatus.CANCELLED, row ?? null);
  }

  /** Of these leases, the run ids whose lease is no longer this worker's (cancelled or taken over). */
  async lostLeases(leases: Lease[]): Promise<Set<string>> {
    if (leases.length === 0) return new Set();
    const rows = await this.sql.rows<{ id: string }>(SQL.lostLeases, [leases.map((l) => l.runId), leases.map((l) => l.token)]);
    return new Set(rows.map((r) => r.id));
  }

  /** Recovers runs whose worker stopped renewing: which went back to the queue and which failed. */
  async sweepExpiredLeases(maxRecoveries = DEFAULT_MAX_RECOVERIES): Promise<{ requeued: string[]; failed: string[] }> {
    // Runs failed here are final: their callbacks are queued in the sweep's transaction.
    const swept = await this.finalizing(true, async (tx) =>
      (await this.sql.rows<Pick<RunRow, 'id' | 'status'> & Changed>(SQL.sweep, [maxRecoveries], tx)).map((r) => ({
        ...r,
        runId: r.id,
        final: r.status === 'FAILED',
      })),
    );
    const rows = swept.map((run) => announcementOf(run, run.status));
    this.announcer.announce(rows);
    await this.sql.run(SQL.dropExpiredKeys, []);
    return {
      requeued: rows.filter((r) => r.status === 'QUEUED').map((r) => r.id),
      failed: rows.filter((r) => r.status === 'FAILED').map((r) => r.id),
    };
  }
}
