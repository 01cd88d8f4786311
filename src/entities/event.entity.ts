import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintNumber } from './columns';

/**
 * One time-series event. Timestamps are epoch microseconds. `valueText` holds the value exactly as the
 * CSV writes it (numbers in shortest round-trip form, compact JSON), so exporting never re-formats it;
 * `valueNum` holds numbers (and booleans as 1/0) for numeric filters. An ingest of an event whose
 * identity is stored replaces the stored one in place.
 */
@Entity('event')
@Index('idx_event_dataset_ts', ['datasetId', 'ts', 'id'])
@Index('idx_event_series', ['datasetId', 'source', 'metric', 'ts', 'id'])
@Index('uq_event_identity', ['identity'], { unique: true })
export class EventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: number;

  @Column({ name: 'dataset_id', type: 'int' })
  datasetId: number;

  @Column({ type: 'bigint', transformer: bigintNumber })
  ts: number;

  @Column({ type: 'varchar', length: 255 })
  metric: string;

  @Column({ name: 'value_num', type: 'double', nullable: true })
  valueNum: number | null;

  @Column({ name: 'value_text', type: 'text', nullable: true })
  valueText: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  source: string | null;

  @Column({ type: 'text', nullable: true })
  tags: string | null;

  @Column({ type: 'double', nullable: true })
  lat: number | null;

  @Column({ type: 'double', nullable: true })
  lng: number | null;

  @Column({ type: 'varchar', length: 12, nullable: true })
  geohash: string | null;

  @Column({ type: 'double', nullable: true })
  elevation: number | null;

  @Column({ name: 'producer_user_id', type: 'varchar', length: 255, nullable: true })
  producerUserId: string | null;

  @Column({ name: 'producer_client_id', type: 'varchar', length: 255, nullable: true })
  producerClientId: string | null;

  @Column({ name: 'ts_received', type: 'bigint', transformer: bigintNumber })
  tsReceived: number;

  /** The event's identity (dataset, timestamp, then a hash of metric, source, producer), in that order: see events/identity.ts. BINARY(24) on MySQL. */
  @Column({ type: 'blob' })
  identity: Buffer;
}
