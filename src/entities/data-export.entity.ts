import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from './columns';

export enum ExportStatus {
  QUEUING = 'QUEUING',
  GENERATING = 'GENERATING',
  CANCELLED = 'CANCELLED',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
}

export const TERMINAL_STATUSES = [ExportStatus.CANCELLED, ExportStatus.COMPLETED, ExportStatus.FAILED];

/**
 * An export is also its own queue job: the row is the truth. `attempt` counts claims; every write a
 * worker makes is guarded by the attempt it claimed, so a worker that lost its lease cannot overwrite
 * the attempt that took over. `faults` counts only the claims that ended by a fault.
 */
@Entity('data_export')
@Index('idx_export_queue', ['status', 'requestedOn'])
@Index('idx_export_user', ['userId', 'requestedOn'])
@Index('idx_export_updated', ['updatedOn'])
export class DataExportEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  name: string | null;

  /** The normalised request (ExportParams) as JSON. */
  @Column({ type: 'text' })
  params: string;

  @Column({ type: 'varchar', length: 16 })
  status: ExportStatus;

  @Column({ name: 'records_estimate', type: 'bigint', default: 0, transformer: bigintNumber })
  recordsEstimate: number;

  @Column({ name: 'records_processed', type: 'bigint', default: 0, transformer: bigintNumber })
  recordsProcessed: number;

  @Column({ name: 'requested_on', type: 'bigint', transformer: bigintNumber })
  requestedOn: number;

  @Column({ name: 'started_on', type: 'bigint', nullable: true, transformer: bigintNumber })
  startedOn: number | null;

  @Column({ name: 'completed_on', type: 'bigint', nullable: true, transformer: bigintNumber })
  completedOn: number | null;

  @Column({ name: 'expires_on', type: 'bigint', nullable: true, transformer: bigintNumber })
  expiresOn: number | null;

  @Column({ type: 'text', nullable: true })
  message: string | null;

  @Column({ name: 'size_bytes', type: 'bigint', default: 0, transformer: bigintNumber })
  sizeBytes: number;

  @Column({ name: 'compressed_size', type: 'bigint', nullable: true, transformer: bigintNumber })
  compressedSize: number | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  sha256: string | null;

  @Column({ type: 'boolean', default: false })
  truncated: boolean;

  /** Of the stored file as it is (the gzip bytes): the compressed download's ETag and Repr-Digest. */
  @Column({ name: 'compressed_sha256', type: 'varchar', length: 64, nullable: true })
  compressedSha256: string | null;

  /** The file's key in the export store (src/exports/storage); null until completed and again once expired. */
  @Column({ name: 'file_name', type: 'varchar', length: 255, nullable: true })
  fileName: string | null;

  @Column({ type: 'int', default: 0 })
  attempt: number;

  /** Attempts that ended by a fault (not by a graceful hand-back): MAX_FAULTS of them and it is FAILED. */
  @Column({ type: 'int', default: 0 })
  faults: number;

  @Column({ name: 'lease_owner', type: 'varchar', length: 64, nullable: true })
  leaseOwner: string | null;

  @Column({ name: 'lease_expires', type: 'bigint', nullable: true, transformer: bigintNumber })
  leaseExpires: number | null;

  /** The schedule this export is a run of (§14); null for an export asked for directly. */
  @Column({ name: 'schedule_id', type: 'varchar', length: 36, nullable: true })
  scheduleId: string | null;

  /** Epoch ms of the last change; subscribers in other processes poll on it when Redis is not set. */
  @Column({ name: 'updated_on', type: 'bigint', transformer: bigintNumber })
  updatedOn: number;
}
