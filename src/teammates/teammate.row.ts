import { Columns, pick } from '../db/columns';
import type { Teammate, TeammateChannel } from './teammate.type';

/** A row of `teammates` as statements read it (TEAMMATE_COLUMNS). */
export interface TeammateRow {
  id: string;
  organizationId: string;
  name: string;
  workflowId: string;
  channels: TeammateChannel[];
  createdAt: Date;
  /** Set by `alloy teammate delete`; the row stays so that its runs keep their teammate. */
  deletedAt: Date | null;
}

/** The one list of the columns of `teammates` that are read, each as the field it is read into. */
export const TEAMMATE_COLUMNS: Columns<TeammateRow> = {
  id: 'id',
  organizationId: 'organization_id',
  name: 'name',
  workflowId: 'workflow_id',
  channels: 'channels',
  createdAt: 'created_at',
  deletedAt: 'deleted_at',
};

/** What a `Teammate` (the GraphQL type) is read with. */
export const TEAMMATE_TYPE_COLUMNS: Columns<Teammate> = pick(TEAMMATE_COLUMNS, 'id', 'name', 'workflowId', 'channels', 'createdAt');
