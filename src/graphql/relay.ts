import { isUuid } from '../db/ids';
import type { CreatedAtPosition } from '../db/page';
import { badInput } from './errors';

/**
 * Opaque keyset cursors: a tagged JSON tuple of the sort key, base64url-encoded. The tag stops a
 * cursor of one connection from being replayed on another.
 */
export function encodeCursor(tag: string, key: unknown[]): string {
  return Buffer.from(JSON.stringify([tag, ...key])).toString('base64url');
}

/** The refusal of an `after` that is no cursor of the list it was given to. */
export const notACursor = () => badInput('after is not a cursor of this list', { argument: 'after' });

export function decodeCursor(tag: string, cursor: string | null | undefined, arity: number): unknown[] | null {
  if (cursor === null || cursor === undefined) return null;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed[0] === tag && parsed.length === arity + 1) return parsed.slice(1);
  } catch {
    // fall through to the error below
  }
  throw notACursor();
}

/** The (createdAt, id) position of an `after` cursor of a list ordered by creation, or null without one. */
export function createdAtIdPosition(tag: string, after: string | null | undefined): CreatedAtPosition | null {
  const key = decodeCursor(tag, after, 2);
  if (!key) return null;
  const [createdAt, id] = key;
  const date = typeof createdAt === 'string' ? new Date(createdAt) : null;
  if (!date || Number.isNaN(date.getTime()) || typeof id !== 'string' || !isUuid(id)) throw notACursor();
  return { createdAt: date, id };
}

/** The cursors of one connection: a node's cursor, and the list position an `after` cursor stands for. */
export interface Cursors<TNode, TPosition> {
  encode(node: TNode): string;
  /** Null without a cursor; BAD_USER_INPUT (argument `after`) for anything but a cursor of this list. */
  decode(after: string | null | undefined): TPosition | null;
}

/** Cursors of a list ordered by creation, tagged `tag`. */
export function createdAtCursors(tag: string): Cursors<{ createdAt: Date; id: string }, CreatedAtPosition> {
  return {
    encode: (node) => encodeCursor(tag, [node.createdAt.toISOString(), node.id]),
    decode: (after) => createdAtIdPosition(tag, after),
  };
}
