// Every entity TypeORM queries (the composition root owns the list; src/db/ takes it as given): through repositories (`getRepository(...)`, `findOne`, `exists`).
// Tables that only our own statements (src/db/statements.ts) read have no entity here: api_keys,
// settings, storage_entries, storage_pending_objects, workflow_versions and
// workflow_idempotency_keys. Kept as one explicit list (not a glob) so that the compiled app,
// ts-jest and the TypeORM CLI all load the same classes the same way.
import { Organization } from '../auth/organization.entity';
import { Teammate } from '../teammates/teammate.entity';
import { WorkflowRun } from '../workflows/workflow-run.entity';
import { Workflow } from '../workflows/workflow.entity';

export const entities = [Organization, Workflow, WorkflowRun, Teammate];
