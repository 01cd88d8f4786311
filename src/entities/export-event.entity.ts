import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintNumber } from './columns';

/** What happened to an export, one row per thing, in the order it happened (§13 history). */
@Entity('export_event')
@Index('idx_export_event_export', ['exportId', 'id'])
export class ExportEventEntity {
  /** Orders the history (MySQL hands BIGINT keys back as strings; only the order matters). */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'export_id', type: 'varchar', length: 36 })
  exportId: string;

  @Column({ type: 'bigint', transformer: bigintNumber })
  at: number;

  @Column({ type: 'varchar', length: 24 })
  type: string;

  @Column({ type: 'text', nullable: true })
  message: string | null;
}
