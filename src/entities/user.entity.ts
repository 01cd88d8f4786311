import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber } from './columns';

@Entity('user')
export class UserEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 320, unique: true })
  email: string;

  @Column({ type: 'boolean', default: false })
  admin: boolean;

  /** Per-user overrides of the usage limits, JSON; null means the settings' defaults. */
  @Column({ type: 'text', nullable: true })
  limits: string | null;

  @Column({ name: 'created_on', type: 'bigint', transformer: bigintNumber })
  createdOn: number;
}
