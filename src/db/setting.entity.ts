import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Process-wide values that every gateway sharing a database must agree on (e.g. signing keys). */
@Entity({ name: 'settings' })
export class Setting {
  @PrimaryColumn('text')
  key: string;

  @Column('text')
  value: string;
}
