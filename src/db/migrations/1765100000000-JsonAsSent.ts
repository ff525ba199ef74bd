import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Payloads, outputs, step results and definitions are kept as `json`, not `jsonb`: `json` stores
 * the text it was given (after checking its syntax), so a value comes back byte for byte as it was
 * sent, object key order and `\u0000` included. `jsonb` refuses `\u0000` ("unsupported Unicode
 * escape sequence") and reorders object keys. Nothing queries inside these columns; a `json` value
 * has no equality operator, so they must not be compared, grouped or indexed as they are.
 * Writers cast their parameter with `::json` (a `::jsonb` cast would reorder the keys before the
 * column sees them). Strings that are not valid Unicode never get here: they are refused at the
 * API (src/validation/json-text.ts).
 */
export class JsonAsSent1765100000000 implements MigrationInterface {
  name = 'JsonAsSent1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE workflow_runs
        ALTER COLUMN payload TYPE json USING payload::json,
        ALTER COLUMN output TYPE json USING output::json,
        ALTER COLUMN step_results DROP DEFAULT,
        ALTER COLUMN step_results TYPE json USING step_results::json,
        ALTER COLUMN step_results SET DEFAULT '{}'::json`);
    await q.query(`ALTER TABLE workflows ALTER COLUMN definition TYPE json USING definition::json`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Values holding \u0000 cannot go back to jsonb; the migration refuses rather than lose them.
    await q.query(`ALTER TABLE workflows ALTER COLUMN definition TYPE jsonb USING definition::jsonb`);
    await q.query(`
      ALTER TABLE workflow_runs
        ALTER COLUMN payload TYPE jsonb USING payload::jsonb,
        ALTER COLUMN output TYPE jsonb USING output::jsonb,
        ALTER COLUMN step_results DROP DEFAULT,
        ALTER COLUMN step_results TYPE jsonb USING step_results::jsonb,
        ALTER COLUMN step_results SET DEFAULT '{}'::jsonb`);
  }
}
