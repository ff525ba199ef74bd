import { isUuid } from '../db/ids';
import { Field, ObjectType } from 'type-graphql';
import { badInput } from './errors';

/** Relay page info, shared by every connection of the schema. */
@ObjectType()
export class PageInfo {
  @Field()
  hasNextPage: boolean;

  @Field(() => String, { nullable: true })
  endCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** `first` as the contract allows it: 0 to 100, default 20. */
export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw badInput(`first must be between 0 and ${MAX_PAGE_SIZE}`, { argument: 'first' });
  }
  return first;
}

/**
 * Opaque keyset cursors: a tagged JSON tuple of the sort key, base64url-encoded. The tag stops a
 * cursor of one connection from being replayed on another.
 */
export function encodeCursor(tag: string, key: unknown[]): string {
  return Buffer.from(JSON.stringify([tag, ...key])).toString('base64url');
}

export function decodeCursor(tag: string, cursor: string | null | undefined, arity: number): unknown[] | null {
  if (cursor === null || cursor === undefined) return null;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed[0] === tag && parsed.length === arity + 1) return parsed.slice(1);
  } catch {
    // fall through to the error below
  }
  throw badInput('after is not a cursor of this list', { argument: 'after' });
}

/** The (createdAt, id) position of an `after` cursor of a list ordered by creation, or null without one. */
export function createdAtIdPosition(tag: string, after: string | null | undefined): { createdAt: Date; id: string } | null {
  const key = decodeCursor(tag, after, 2);
  if (!key) return null;
  const [createdAt, id] = key;
  const date = typeof createdAt === 'string' ? new Date(createdAt) : null;
  if (!date || Number.isNaN(date.getTime()) || typeof id !== 'string' || !isUuid(id)) {
    throw badInput('after is not a cursor of this list', { argument: 'after' });
  }
  return { createdAt: date, id };
}
