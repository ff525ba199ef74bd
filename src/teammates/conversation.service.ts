import type { DataSource } from 'typeorm';
import { Columns, pick, selectList } from '../db/columns';
import { isUuid } from '../db/ids';
import { Page, pageOf, PageQuery, withTotal } from '../db/page';
import { Statement, statement, StatementRunner } from '../db/statements';
import { badInput, notFound } from '../graphql/errors';
import { RUN_COLUMNS } from '../workflows/workflow-run.row';
import type { Conversation, ConversationMessage } from './conversation.type';

/** A position in a teammate's conversations, most recently active first. */
export interface ConversationPosition {
  updatedAt: Date;
  id: string;
}

/** A position in a conversation's messages: the turn (its run) and the message's place in it (0 input, 1 output). */
export interface MessagePosition {
  runCreatedAt: Date;
  runId: string;
  ord: number;
}

export const MAX_TITLE_LENGTH = 200;

/** The one list of the columns of `conversations` that are read, each as the field of Conversation it is read into. */
const CONVERSATION_COLUMNS: Columns<Conversation> = {
  id: 'id',
  teammateId: 'teammate_id',
  title: 'title',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};
const COLUMNS = selectList(CONVERSATION_COLUMNS, { from: 'c' });

/** Conversations of live teammates only: a deleted teammate's conversations read as missing. */
const LIVE = `JOIN teammates t ON t.id = c.teammate_id AND t.deleted_at IS NULL`;

/** $1 teammate, $2 organization, $3 size + 1, $4 $5 the position after (updated_at, id), newest first. */
function listStatement(after: boolean, count: boolean): Statement {
  const where = `c.teammate_id = $1 AND c.organization_id = $2`;
  const page = `SELECT ${COLUMNS} FROM conversations c WHERE ${where}${after ? ' AND (c.updated_at, c.id) < ($4, $5)' : ''}
                 ORDER BY c.updated_at DESC, c.id DESC LIMIT $3`;
  const name = `teammates.conversations${after ? '-after' : ''}${count ? '-count' : ''}`;
  return statement(
    name,
    count
      ? withTotal(
          // Kept as conversations come and go (conversation_counts and its deltas, migration 1765800000000), not counted.
          `SELECT COALESCE(sum(n), 0)::int AS total
             FROM (SELECT n FROM conversation_counts WHERE organization_id = $2 AND teammate_id = $1
                   UNION ALL SELECT n FROM conversation_count_deltas WHERE organization_id = $2 AND teammate_id = $1) AS k`,
          page,
          'p."updatedAt" DESC, p.id DESC',
        )
      : page,
  );
}

/**
 * What a message is read with beside its own columns: the turn's run (its id and createdAt are the
 * message's position, with `ord`), under the `run` prefix, and the run's id as the row's own (pageOf
 * tells an empty counted page by its null id).
 */
const MESSAGE_RUN = `${selectList(pick(RUN_COLUMNS, 'id'), { from: 'r' })}, ${selectList(pick(RUN_COLUMNS, 'id', 'createdAt'), { from: 'r', prefix: 'run' })}`;

/**
 * $1 conversation, $2 size + 1, $3 $4 $5 the position after: two messages per run that
 * SUCCEEDED (its input, then its output), in the order of the turns.
 */
function messagesStatement(after: boolean, count: boolean): Statement {
  const where = `r.conversation_id = $1 AND r.status = 'SUCCEEDED'`;
  const page = `SELECT ${MESSAGE_RUN}, m.ord, m.role, m.content, m.at
                  FROM workflow_runs r
                 CROSS JOIN LATERAL (VALUES (0, 'user', r.payload, r.created_at), (1, 'teammate', r.output, r.finished_at))
                       AS m (ord, role, content, at)
                 WHERE ${where}${after ? ' AND (r.created_at, r.id, m.ord) > ($3, $4, $5)' : ''}
                 ORDER BY r.created_at, r.id, m.ord LIMIT $2`;
  const name = `teammates.conversation-messages${after ? '-after' : ''}${count ? '-count' : ''}`;
  return statement(
    name,
    count
      ? withTotal(`SELECT 2 * count(*)::int AS total FROM workflow_runs r WHERE ${where}`, page, 'p."runCreatedAt", p.id, p.ord')
      : page,
    // Over every day partition of the runs: see Statement.genericPlan.
    { genericPlan: true },
  );
}

const LISTS = new Map<string, Statement>();
const MESSAGES = new Map<string, Statement>();
for (const after of [false, true]) {
  for (const count of [false, true]) {
    LISTS.set(`${after}${count}`, listStatement(after, count));
    MESSAGES.set(`${after}${count}`, messagesStatement(after, count));
  }
}

const SQL = {
  find: statement('teammates.conversation', `SELECT ${COLUMNS} FROM conversations c ${LIVE} WHERE c.id = $1 AND c.organization_id = $2`),
  byIds: statement(
    'teammates.conversations-by-ids',
    `SELECT ${COLUMNS} FROM conversations c ${LIVE} WHERE c.id = ANY ($1::uuid[]) AND c.organization_id = $2`,
  ),
  rename: statement(
    'teammates.rename-conversation',
    `UPDATE conversations c SET title = $3, updated_at = now() FROM teammates t
      WHERE c.id = $1 AND c.organization_id = $2 AND t.id = c.teammate_id AND t.deleted_at IS NULL
    RETURNING ${COLUMNS}`,
  ),
  /** The runs stay (request logs); their link goes with the row (workflow_runs.conversation_id ON DELETE SET NULL). */
  delete: statement(
    'teammates.delete-conversation',
    `DELETE FROM conversations c USING teammates t
      WHERE c.id = $1 AND c.organization_id = $2 AND t.id = c.teammate_id AND t.deleted_at IS NULL
    RETURNING c.id`,
  ),
};

const conversationNotFound = () => notFound('Conversation');

/**
 * A teammate's conversations: listing, reading their messages, renaming and deleting. Turns are
 * started by callTeammate (WorkflowService.startRun), which creates a conversation with its first
 * turn; a conversation is the organization's and its teammate's only.
 */
export class ConversationService {
  private readonly sql: StatementRunner;

  constructor(db: DataSource) {
    this.sql = new StatementRunner(db);
  }

  /** The teammate's conversations, most recently active first, keyset-paged on (updatedAt, id). */
  async list(organizationId: string, teammateId: string, query: PageQuery<ConversationPosition>): Promise<Page<Conversation>> {
    const values: unknown[] = [teammateId, organizationId, query.first + 1];
    if (query.after) values.push(query.after.updatedAt, query.after.id);
    return pageOf(await this.sql.rows<Conversation & { total?: number }>(LISTS.get(`${!!query.after}${query.count}`)!, values), query);
  }

  /** The organization's conversation (of a teammate that is not deleted), or null. */
  async find(organizationId: string, id: string): Promise<Conversation | null> {
    if (!isUuid(id)) return null;
    return this.sql.first<Conversation>(SQL.find, [id, organizationId]);
  }

  /** For DataLoader: the conversations of these ids, in the same order (null where missing). */
  async byIds(organizationId: string, ids: readonly string[]): Promise<Array<Conversation | null>> {
    const valid = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
    const rows = valid.length ? await this.sql.rows<Conversation>(SQL.byIds, [valid, organizationId]) : [];
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id.toLowerCase()) ?? null);
  }

  /** A conversation's messages in order: the input and the output of each turn whose run succeeded. */
  async messages(conversationId: string, query: PageQuery<MessagePosition>): Promise<Page<ConversationMessage>> {
    const values: unknown[] = [conversationId, query.first + 1];
    if (query.after) values.push(query.after.runCreatedAt, query.after.runId, query.after.ord);
    return pageOf(
      await this.sql.rows<ConversationMessage & { id: string; total?: number }>(MESSAGES.get(`${!!query.after}${query.count}`)!, values),
      query,
    );
  }

  async rename(organizationId: string, id: string, input: string): Promise<Conversation> {
    const title = input.replace(/\s+/g, ' ').trim();
    if (/\p{Cc}/u.test(title)) throw badInput('title must not contain control characters (such as NUL)', { argument: 'title' });
    if (title.length < 1 || [...title].length > MAX_TITLE_LENGTH) {
      throw badInput(`title must be 1 to ${MAX_TITLE_LENGTH} characters (not only spaces)`, { argument: 'title' });
    }
    if (!isUuid(id)) throw conversationNotFound();
    const renamed = await this.sql.first<Conversation>(SQL.rename, [id, organizationId, title]);
    if (!renamed) throw conversationNotFound();
    return renamed;
  }

  /** Deletes the conversation; its runs stay readable and in the request logs, without the link. */
  async delete(organizationId: string, id: string): Promise<boolean> {
    if (!isUuid(id)) throw conversationNotFound();
    const row = await this.sql.first<{ id: string }>(SQL.delete, [id, organizationId]);
    if (!row) throw conversationNotFound();
    return true;
  }
}
