import type { Columns } from '../db/columns';

/** A row of `organizations` as statements read it (ORGANIZATION_COLUMNS). */
export interface OrganizationRow {
  id: string;
  name: string;
  createdAt: Date;
}

/** The one list of the columns of `organizations` that are read, each as the field it is read into. */
export const ORGANIZATION_COLUMNS: Columns<OrganizationRow> = {
  id: 'id',
  name: 'name',
  createdAt: 'created_at',
};
