import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber } from './columns';

/** The metrics a dataset has seen, kept up to date by ingest and seed so listing them never scans events. */
@Entity('dataset_metric')
export class DatasetMetricEntity {
  @PrimaryColumn({ name: 'dataset_id', type: 'int' })
  datasetId: number;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  metric: string;

  @Column({ name: 'last_update', type: 'bigint', transformer: bigintNumber })
  lastUpdate: number;
}
