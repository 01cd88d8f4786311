import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { bigintNumber } from './columns';

@Entity('dataset')
export class DatasetEntity {
  @PrimaryGeneratedColumn({ type: 'int' })
  id: number;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ name: 'created_on', type: 'bigint', transformer: bigintNumber })
  createdOn: number;
}
