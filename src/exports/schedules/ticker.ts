import { DataSource } from 'typeorm';
import { DatasetService } from '../../catalog/dataset.service';
import { scheduleClock } from '../../clock';
import { Config } from '../../config';
import { logger } from '../../logger';
import { ExportEvents } from '../export-events';
import { LifecycleHooks } from '../delivery/delivery';
import { ExportService } from '../export.service';
import { ScheduleService } from './schedule.service';

/** How often a ticker looks for due schedules, in real time; a faster schedule clock looks more often. */
const PASS_MS = 1000;

/**
 * Runs on every server and worker: looks for due schedules and makes their runs. Holds nothing in
 * memory that matters: two tickers seeing the same tick race for its key in the database, and one wins.
 */
export class ScheduleTicker {
  private timer?: NodeJS.Timeout;
  private pass?: Promise<void>;

  constructor(
    private readonly schedules: ScheduleService,
    private readonly everyMs = PASS_MS,
  ) {}

  /** A ticker passing as often as the schedule clock's speed needs. */
  static over(schedules: ScheduleService): ScheduleTicker {
    return new ScheduleTicker(schedules, Math.max(50, Math.round(PASS_MS / scheduleClock().speed)));
  }

  /** A ticker wired for a process that has no services object (a worker). */
  static forStore(ds: DataSource, config: Config, events: ExportEvents, hooks?: LifecycleHooks): ScheduleTicker {
    // Runs a worker makes get the same QUEUED history and notifications as any other export.
    const exports = new ExportService(ds, config, new DatasetService(ds), events, hooks);
    return ScheduleTicker.over(new ScheduleService(ds, exports, scheduleClock().now));
  }

  start(): void {
    this.timer = setInterval(() => {
      // One pass at a time: a slow database must not pile passes up.
      this.pass ??= this.schedules
        .fireDue()
        .then(() => undefined, (err: Error) => logger.warn({ err: err.message }, 'schedule pass failed; trying again'))
        .finally(() => (this.pass = undefined));
    }, this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.pass;
  }
}
