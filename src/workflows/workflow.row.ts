import { Columns, pick } from '../db/columns';
import type { WorkflowDefinition } from './definition';
import type { Workflow } from './workflow.type';

/** A row of `workflows` as statements read it (WORKFLOW_COLUMNS). */
export interface WorkflowRow {
  id: string;
  organizationId: string;
  name: string;
  startStep: string | null;
  startable: boolean;
  definition: WorkflowDefinition;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  /** Until when the previous signing secret signs too (`alloy workflow rotate-secret --keep-previous`). */
  previousSigningSecretUntil: Date | null;
  /** What signs its http steps' requests and its runs' callbacks: the current secret, then the previous one while it lasts (signing.ts). */
  signingSecrets: string[];
}

/** The one list of the columns of `workflows` that are read, each as the field it is read into. */
export const WORKFLOW_COLUMNS: Columns<WorkflowRow> = {
  id: 'id',
  organizationId: 'organization_id',
  name: 'name',
  startStep: 'start_step',
  startable: 'startable',
  definition: 'definition',
  version: 'version',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  deletedAt: 'deleted_at',
  previousSigningSecretUntil: 'previous_signing_secret_until',
  signingSecrets: (t) =>
    `array_remove(ARRAY[${t}signing_secret, CASE WHEN ${t}previous_signing_secret_until > now() THEN ${t}previous_signing_secret END], NULL)`,
};

/** What a `Workflow` (the GraphQL type) is read with: never the signing secrets. */
export const WORKFLOW_TYPE_COLUMNS: Columns<Workflow> = pick(
  WORKFLOW_COLUMNS,
  'id',
  'name',
  'startStep',
  'startable',
  'definition',
  'version',
  'createdAt',
  'updatedAt',
  'deletedAt',
);

/** The columns of `workflow_versions` that are read: a run executes the definition of the version it started with. */
export const WORKFLOW_VERSION_COLUMNS: Columns<{ definition: WorkflowDefinition }> = { definition: 'definition' };
