import { pick, selectList } from '../db/columns';
import { statement, StatementRunner } from '../db/statements';
import type { ContextMessage, ConversationContext } from './steps/step-type';
import { RUN_COLUMNS, RunRow } from './workflow-run.row';

/** At most this many earlier turns reach a run's context (the documented floor is 50). */
export const MAX_CONTEXT_TURNS = 100;
/** The messages a run's context holds are at most this many bytes of JSON. */
export const MAX_CONTEXT_BYTES = 1024 * 1024;

/** What a turn is read with: the run's input and output, and their times. */
const TURN_COLUMNS = pick(RUN_COLUMNS, 'id', 'payload', 'output', 'createdAt', 'finishedAt');

/*
 * The earlier turns of conversation $1 before the run created at ($2, $3): only runs that
 * SUCCEEDED (failed and cancelled turns are runs, not messages), the newest $4, each with the
 * size of its JSON so that turns past $5 bytes are never read out of the database. `earlier`
 * counts them all.
 */
const TURNS = statement(
  'workflows.conversation-turns',
  `WITH recent AS (
     SELECT id, payload, output, created_at, finished_at,
            octet_length(COALESCE(payload::text, 'null')) + octet_length(COALESCE(output::text, 'null')) + 200 AS bytes
       FROM workflow_runs
      WHERE conversation_id = $1 AND status = 'SUCCEEDED' AND (created_at, id) < ($2::timestamptz, $3::uuid)
      ORDER BY created_at DESC, id DESC
      LIMIT $4
   ), sized AS (
     SELECT id, created_at, bytes, sum(bytes) OVER (ORDER BY created_at DESC, id DESC) AS running FROM recent
   )
   SELECT ${selectList(TURN_COLUMNS, { from: 'r' })},
          (SELECT count(*)::int FROM workflow_runs
            WHERE conversation_id = $1 AND status = 'SUCCEEDED' AND (created_at, id) < ($2::timestamptz, $3::uuid)) AS earlier
     FROM sized s JOIN recent r ON r.id = s.id
    WHERE s.running <= $5
    ORDER BY r.created_at, r.id`,
  // Over every day partition of the runs: see Statement.genericPlan.
  { genericPlan: true },
);

/** An earlier turn (a run that SUCCEEDED, so finished), and how many earlier turns there are in all. */
type TurnRow = Pick<RunRow, keyof typeof TURN_COLUMNS> & { finishedAt: Date; earlier: number };

const messagesOf = (turn: TurnRow): ContextMessage[] => [
  { role: 'user', content: turn.payload, runId: turn.id, at: turn.createdAt.toISOString() },
  { role: 'teammate', content: turn.output, runId: turn.id, at: turn.finishedAt.toISOString() },
];

/**
 * The conversation as the turn `run` sees it: the most recent earlier turns, at most
 * MAX_CONTEXT_TURNS and MAX_CONTEXT_BYTES of JSON (the oldest go first), never an error: a single
 * turn larger than the budget leaves the messages empty and counted in `omittedTurns`.
 */
export async function conversationContext(
  sql: StatementRunner,
  conversationId: string,
  run: { id: string; createdAt: Date },
): Promise<ConversationContext> {
  const turns = await sql.rows<TurnRow>(TURNS, [conversationId, run.createdAt, run.id, MAX_CONTEXT_TURNS, MAX_CONTEXT_BYTES]);
  const earlier = turns[0]?.earlier ?? (await countEarlier(sql, conversationId, run));
  let messages = turns.flatMap(messagesOf);
  // The database measured its own JSON text; the context is measured as it is sent.
  while (messages.length && Buffer.byteLength(JSON.stringify(messages)) > MAX_CONTEXT_BYTES) messages = messages.slice(2);
  return { id: conversationId, messages, omittedTurns: earlier - messages.length / 2 };
}

const EARLIER = statement(
  'workflows.conversation-turns-earlier',
  `SELECT count(*)::int AS earlier FROM workflow_runs
    WHERE conversation_id = $1 AND status = 'SUCCEEDED' AND (created_at, id) < ($2::timestamptz, $3::uuid)`,
  { genericPlan: true },
);

async function countEarlier(sql: StatementRunner, conversationId: string, run: { id: string; createdAt: Date }): Promise<number> {
  return (await sql.first<{ earlier: number }>(EARLIER, [conversationId, run.createdAt, run.id]))?.earlier ?? 0;
}
