const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether `value` can be a row id (a uuid, in any case). Checked before a query, so that a
 * malformed id reads as "not found" instead of a driver error about the uuid type.
 */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);
