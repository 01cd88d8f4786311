import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from './columns';

/**
 * A removed export's last state, kept for a while after its row is deleted: subscribers in other
 * processes learn of the removal from it when change notices travel through the database.
 */
@Entity('export_removal')
@Index('idx_removal_time', ['removedOn'])
export class ExportRemovalEntity {
  @PrimaryColumn({ name: 'export_id', type: 'varchar', length: 36 })
  exportId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ name: 'removed_on', type: 'bigint', transformer: bigintNumber })
  removedOn: number;

  /** The data_export row as it last was, as JSON. */
  @Column({ name: 'last_state', type: 'text' })
  lastState: string;
}
