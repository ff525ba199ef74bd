// TypeORM's entity list: empty, because every capability runs its SQL as statements of its own
// (src/db/statements.ts) and TypeORM only keeps the pool, the transactions and the migrations.
// Kept here, with the composition root, so that a capability that comes to query through TypeORM
// adds its entity in one place.
export const entities: never[] = [];
