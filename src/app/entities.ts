// Every entity TypeORM knows about (the composition root owns the list; src/db/ takes it as given). Kept as one explicit list (not a glob) so that the compiled
// app, ts-jest and the TypeORM CLI all load the same classes the same way.
import { ApiKey } from '../auth/api-key.entity';
import { Organization } from '../auth/organization.entity';
import { Setting } from '../db/setting.entity';
import { Teammate } from '../teammates/teammate.entity';
import { WorkflowIdempotencyKey } from '../workflows/idempotency-key.entity';
import { WorkflowRun } from '../workflows/workflow-run.entity';
import { Workflow, WorkflowVersion } from '../workflows/workflow.entity';
import { PendingObject, StorageEntry } from '../storage/storage-entry.entity';

export const entities = [Organization, ApiKey, Setting, Workflow, WorkflowVersion, WorkflowRun, WorkflowIdempotencyKey, Teammate, StorageEntry, PendingObject];
