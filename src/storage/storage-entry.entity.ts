import { Column, CreateDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type EntryKindValue = 'folder' | 'file';

/** A folder or a file of an organization's tree (table `storage_entries`, see the Storage migration). */
@Entity({ name: 'storage_entries' })
export class StorageEntry {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column('uuid', { name: 'organization_id' })
  organizationId: string;

  /** Null only for the organization's root folder. */
  @Column('uuid', { name: 'parent_id', nullable: true })
  parentId: string | null;

  @Column('text')
  kind: EntryKindValue;

  /** '' for the root. */
  @Column('text')
  name: string;

  /** Immutable `<orgId>/<objectId>`; never encodes the path. */
  @Column('text', { name: 'object_key', nullable: true })
  objectKey: string | null;

  @Column('bigint', { nullable: true, transformer: { to: (v) => v, from: (v) => (v === null ? null : Number(v)) } })
  size: number | null;

  @Column('text', { name: 'content_type', nullable: true })
  contentType: string | null;

  @Column('text', { nullable: true })
  md5: string | null;

  @Column('text', { nullable: true })
  etag: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}

/** An object being written whose row is not committed yet; old ones are orphans for the sweeper. */
@Entity({ name: 'storage_pending_objects' })
export class PendingObject {
  @PrimaryColumn('text', { name: 'object_key' })
  objectKey: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
