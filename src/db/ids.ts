import { randomBytes } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether `value` can be a row id (a uuid, in any case). Checked before a query, so that a
 * malformed id reads as "not found" instead of a driver error about the uuid type.
 */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/**
 * A version 7 uuid (RFC 9562): the first 48 bits are the Unix time in milliseconds, the rest
 * random (74 bits) apart from the version and variant. Ids made later sort after earlier ones, so
 * inserts of new rows append to the end of a primary-key index instead of landing on random pages
 * of it (which stop fitting in memory as a table of runs grows), and an id tells roughly when its
 * row was made. Used for runs and conversations; it reveals nothing the row's `createdAt` doesn't.
 */
export function uuidv7(now = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
