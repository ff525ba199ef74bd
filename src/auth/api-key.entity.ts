import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * An organization API key. Only a SHA-256 hash of the secret part is kept: keys are 256-bit
 * random values, so a slow password hash would add latency to every request and no security.
 */
@Entity({ name: 'api_keys' })
export class ApiKey {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Index()
  @Column('uuid', { name: 'organization_id' })
  organizationId: string;

  /** The public, non-secret part of the key, used to find the row before comparing hashes. */
  @Index({ unique: true })
  @Column('text', { name: 'lookup_id' })
  lookupId: string;

  @Column('bytea', { name: 'secret_hash' })
  secretHash: Buffer;

  @Column('text', { nullable: true })
  name: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column('timestamptz', { name: 'last_used_at', nullable: true })
  lastUsedAt: Date | null;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt: Date | null;
}
