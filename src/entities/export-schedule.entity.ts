import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from './columns';

/** A recurring export: a cron expression in a time zone and the CreateExportInput each run asks for. */
@Entity('export_schedule')
@Index('idx_schedule_user', ['userId', 'createdOn'])
@Index('idx_schedule_due', ['paused', 'nextRunOn'])
export class ExportScheduleEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  @Column({ type: 'varchar', length: 255 })
  cron: string;

  @Column({ name: 'time_zone', type: 'varchar', length: 64 })
  timeZone: string;

  @Column({ type: 'boolean', default: false })
  incremental: boolean;

  @Column({ type: 'boolean', default: false })
  paused: boolean;

  /** The CreateExportInput as the user gave it (JSON), checked again at every tick. */
  @Column({ type: 'text' })
  definition: string;

  /** Epoch ms of the next tick; null while paused or when the expression has no further tick. */
  @Column({ name: 'next_run_on', type: 'bigint', nullable: true, transformer: bigintNumber })
  nextRunOn: number | null;

  @Column({ name: 'last_run_on', type: 'bigint', nullable: true, transformer: bigintNumber })
  lastRunOn: number | null;

  @Column({ name: 'last_message', type: 'text', nullable: true })
  lastMessage: string | null;

  /** Incremental: the tsReceived (µs, inclusive) up to which runs already hold events; null before run 1. */
  @Column({ name: 'last_cutoff', type: 'bigint', nullable: true, transformer: bigintNumber })
  lastCutoff: number | null;

  @Column({ name: 'created_on', type: 'bigint', transformer: bigintNumber })
  createdOn: number;
}

/**
 * One row per tick a schedule acted on, keyed by (schedule, tick): the unique key is what makes a tick
 * run once however many servers and workers see it due. `exportId` is null when the tick made no run.
 */
@Entity('export_schedule_tick')
export class ScheduleTickEntity {
  @PrimaryColumn({ name: 'schedule_id', type: 'varchar', length: 36 })
  scheduleId: string;

  /** Epoch ms of the cron tick (or of the runNow request). */
  @PrimaryColumn({ type: 'bigint', transformer: bigintNumber })
  tick: number;

  @Column({ name: 'export_id', type: 'varchar', length: 36, nullable: true })
  exportId: string | null;

  @Column({ type: 'text', nullable: true })
  message: string | null;

  @Column({ name: 'created_on', type: 'bigint', transformer: bigintNumber })
  createdOn: number;
}
