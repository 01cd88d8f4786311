import crypto from 'node:crypto';
import { DataSource, EntityManager, LessThan, LessThanOrEqual } from 'typeorm';
import { Clock } from '../../clock';
import { inTransaction } from '../../db/transaction';
import { DataExportEntity } from '../../entities/data-export.entity';
import { ExportScheduleEntity, ScheduleTickEntity } from '../../entities/export-schedule.entity';
import { UserEntity } from '../../entities/user.entity';
import { badRequest, ErrorCode, notFound, SluiceError } from '../../errors';
import { logger } from '../../logger';
import { ExportRequest, ExportService } from '../export.service';
import { ExportParams } from '../params';
import { CronSchedule } from './cron';
import { OpenWrites } from './open-writes';

export interface ScheduleRequest {
  name: string;
  export: ExportRequest;
  cron: string;
  timeZone?: string | null;
  incremental?: boolean | null;
}

/** Room left in an export's name (255) for the tick's ISO time after the schedule's name. */
const NAME_MAX = 200;
/** How long a tick's key is kept after it: long past the clock skew or delay of any process that might still race for it. */
const TICKS_KEPT_MS = 7 * 86_400_000;
/** Schedules a ticker acts on per pass; more due at once wait for the next pass. */
const DUE_BATCH = 50;

/** A run's name: the schedule's name and the ISO time of its tick. */
/** Schedules one user may hold: every tick reads and locks each due one, so one account must not grow that work without end. */
export const MAX_SCHEDULES_PER_USER = 100;

export const runName = (schedule: { name: string }, tick: number) => `${schedule.name} ${new Date(tick).toISOString()}`;

function isDuplicateKey(err: unknown): boolean {
  const driver = (err as { driverError?: { code?: string } }).driverError;
  return /ER_DUP_ENTRY|SQLITE_CONSTRAINT/.test(String(driver?.code ?? (err as { code?: string }).code ?? ''));
}

/**
 * Schedules (§14). A run is an ordinary export, made in one transaction with the (schedule, tick) row
 * whose primary key lets exactly one process make it; the schedule row, locked in that transaction,
 * carries the incremental cutoff from run to run.
 */
export class ScheduleService {
  constructor(
    private readonly ds: DataSource,
    private readonly exports: ExportService,
    private readonly clock: Clock = Date.now,
    private readonly openWrites = new OpenWrites(ds),
  ) {}

  private repo() {
    return this.ds.getRepository(ExportScheduleEntity);
  }

  async create(user: UserEntity, req: ScheduleRequest): Promise<ExportScheduleEntity> {
    const name = (req.name ?? '').trim();
    if (!name) throw badRequest('a schedule needs a non-empty name');
    if (name.length > NAME_MAX) throw badRequest(`a schedule name has at most ${NAME_MAX} characters (its runs are named "<name> <ISO time>")`);
    const timeZone = req.timeZone ?? 'UTC';
    const cron = CronSchedule.parse(req.cron ?? '', timeZone);
    // Checked exactly as createExport checks it; checked again at every tick (rights may change).
    await this.exports.validate(user, req.export);
    const now = this.clock();
    const row = Object.assign(new ExportScheduleEntity(), {
      id: crypto.randomUUID(), userId: user.id, name, cron: cron.expression, timeZone, incremental: req.incremental ?? false, paused: false,
      definition: JSON.stringify(req.export), nextRunOn: cron.nextAfter(now), lastRunOn: null, lastMessage: null, lastCutoff: null, createdOn: now,
    });
    await inTransaction(this.ds, async (m) => {
      // The user row lock makes count-then-insert atomic across servers on MySQL (SQLite's writes take turns).
      if (m.connection.options.type !== 'better-sqlite3') await m.query('SELECT id FROM `user` WHERE id = ? FOR UPDATE', [user.id]);
      const held = await m.getRepository(ExportScheduleEntity).countBy({ userId: user.id });
      if (held >= MAX_SCHEDULES_PER_USER) {
        throw new SluiceError(ErrorCode.LIMIT_REACHED, `you already have ${held} export schedules; at most ${MAX_SCHEDULES_PER_USER} are allowed. Remove one you no longer need (onExportSchedule(id).remove) first.`);
      }
      await m.getRepository(ExportScheduleEntity).insert(row);
    });
    return row;
  }

  list(user: UserEntity): Promise<ExportScheduleEntity[]> {
    return this.repo().find({ where: { userId: user.id }, order: { createdOn: 'ASC', id: 'ASC' } });
  }

  /** The user's own schedule; anyone else's does not exist. */
  async get(user: UserEntity, id: string): Promise<ExportScheduleEntity> {
    const row = await this.repo().findOneBy({ id, userId: user.id });
    if (!row) throw notFound(`schedule ${id} not found`);
    return row;
  }

  /** A schedule by id whoever owns it: a run's link to its schedule (only the run's owner sees the run). */
  find(id: string): Promise<ExportScheduleEntity | null> {
    return this.repo().findOneBy({ id });
  }

  async pause(user: UserEntity, id: string): Promise<ExportScheduleEntity> {
    await this.get(user, id);
    await this.repo().update({ id }, { paused: true, nextRunOn: null });
    return this.get(user, id);
  }

  /** Ticks missed while paused are not caught up: the schedule goes on from its next tick. */
  async resume(user: UserEntity, id: string): Promise<ExportScheduleEntity> {
    const row = await this.get(user, id);
    const next = CronSchedule.parse(row.cron, row.timeZone).nextAfter(this.clock());
    await this.repo().update({ id }, { paused: false, nextRunOn: next });
    return this.get(user, id);
  }

  /** Deletes the schedule; its past runs stay, as ordinary exports. */
  async remove(user: UserEntity, id: string): Promise<ExportScheduleEntity> {
    const row = await this.get(user, id);
    await this.ds.transaction(async (m) => {
      await m.getRepository(ExportScheduleEntity).delete({ id });
      await m.getRepository(ScheduleTickEntity).delete({ scheduleId: id });
    });
    return row;
  }

  /** A run at once, outside the cron; limits and rights apply as at a tick, and a refusal comes back to the caller. */
  async runNow(user: UserEntity, id: string): Promise<{ schedule: ExportScheduleEntity; run: DataExportEntity }> {
    await this.get(user, id);
    const outcome = await this.fire(id, this.clock(), true);
    if (outcome.refusal) throw outcome.refusal;
    if (!outcome.run) throw badRequest(`schedule ${id} made a run at this very moment already; try again`);
    return { schedule: await this.get(user, id), run: outcome.run };
  }

  runs(scheduleId: string, limit = 20): Promise<DataExportEntity[]> {
    return this.ds.getRepository(DataExportEntity).find({
      where: { scheduleId }, order: { requestedOn: 'DESC', id: 'DESC' }, take: Math.max(0, Math.min(limit, 1000)),
    });
  }

  /**
   * One pass of a ticker: every due schedule gets one run for its latest due tick (missed ticks collapse
   * into it). Any number of processes may call this at once; the tick's key decides who makes the run.
   */
  async fireDue(): Promise<number> {
    const now = this.clock();
    const due = await this.repo().find({ where: { paused: false, nextRunOn: LessThanOrEqual(now) }, order: { nextRunOn: 'ASC' }, take: DUE_BATCH });
    let made = 0;
    for (const s of due) {
      try {
        const cron = CronSchedule.parse(s.cron, s.timeZone);
        const tick = cron.latestIn((s.nextRunOn as number) - 1, now) ?? (s.nextRunOn as number);
        if ((await this.fire(s.id, tick, false)).run) made++;
      } catch (err) {
        logger.warn({ err: (err as Error).message, schedule: s.id }, 'could not run a due schedule; trying again at the next pass');
      }
    }
    return made;
  }

  /**
   * Makes the run of one tick, or records why there is none. The cutoff is read before the transaction
   * opens: inside it, MySQL's snapshot could predate writes registered meanwhile.
   */
  private async fire(scheduleId: string, tick: number, manual: boolean): Promise<{ run?: DataExportEntity; params?: ExportParams; refusal?: SluiceError }> {
    const cutoff = await this.openWrites.cutoff();
    const s = await this.find(scheduleId);
    if (!s) return {};
    const owner = await this.ds.getRepository(UserEntity).findOneBy({ id: s.userId });
    if (!owner) return {};
    let params: ExportParams | undefined;
    let refusal: SluiceError | undefined;
    try {
      params = await this.exports.validate(owner, JSON.parse(s.definition) as ExportRequest);
    } catch (err) {
      if (!(err instanceof SluiceError)) throw err;
      refusal = err;
    }
    let outcome: { run?: DataExportEntity; params?: ExportParams; refusal?: SluiceError } | null;
    try {
      outcome = await this.exports.inCreateTransaction((m) => this.claimTick(m, scheduleId, tick, manual, cutoff, owner, params, refusal));
    } catch (err) {
      if (isDuplicateKey(err)) return {};
      throw err;
    }
    if (!outcome) return {};
    if (outcome.run && outcome.params) {
      this.exports.announce(outcome.run, outcome.params);
      logger.info({ schedule: scheduleId, tick, export: outcome.run.id, manual }, 'schedule run queued');
    } else if (outcome.refusal) {
      logger.info({ schedule: scheduleId, tick, reason: outcome.refusal.message }, 'schedule tick made no run');
    }
    return outcome;
  }

  private async claimTick(
    m: EntityManager, scheduleId: string, tick: number, manual: boolean, cutoff: number, owner: UserEntity,
    params: ExportParams | undefined, refusal: SluiceError | undefined,
  ): Promise<{ run?: DataExportEntity; params?: ExportParams; refusal?: SluiceError } | null> {
    // The lock orders every process acting on this schedule; the tick's primary key is what guarantees one run.
    if (m.connection.options.type !== 'better-sqlite3') await m.query('SELECT id FROM export_schedule WHERE id = ? FOR UPDATE', [scheduleId]);
    const s = await m.getRepository(ExportScheduleEntity).findOneBy({ id: scheduleId });
    if (!s) return null;
    if (!manual && (s.paused || s.nextRunOn === null || s.nextRunOn > tick)) return null;
    const now = this.clock();
    await m.getRepository(ScheduleTickEntity).insert({ scheduleId, tick, exportId: null, message: null, createdOn: now });
    // A tick before nextRunOn is never claimed again (checked above), so old keys need not be kept.
    await m.getRepository(ScheduleTickEntity).delete({ scheduleId, tick: LessThan(tick - TICKS_KEPT_MS) });
    let run: DataExportEntity | undefined;
    let windowed: ExportParams | undefined;
    if (params) {
      // A cutoff never goes back: a concurrent runNow may have taken a later one meanwhile.
      const upTo = Math.max(cutoff, s.lastCutoff ?? cutoff);
      windowed = { ...params, receivedAfter: s.incremental ? s.lastCutoff : null, receivedUpTo: upTo };
      try {
        run = await this.exports.insertQueued(m, owner, windowed, runName(s, tick), s.id);
      } catch (err) {
        if (!(err instanceof SluiceError) || err.code !== ErrorCode.LIMIT_REACHED) throw err;
        refusal = err;
      }
    }
    const message = run ? null : `no run for the tick at ${new Date(tick).toISOString()}: ${refusal?.message ?? 'unknown reason'}`;
    await m.getRepository(ScheduleTickEntity).update({ scheduleId, tick }, { exportId: run?.id ?? null, message });
    const cron = CronSchedule.parse(s.cron, s.timeZone);
    await m.getRepository(ExportScheduleEntity).update({ id: scheduleId }, {
      lastMessage: message,
      ...(run ? { lastRunOn: tick } : {}),
      ...(run && s.incremental ? { lastCutoff: windowed?.receivedUpTo } : {}),
      ...(manual ? {} : { nextRunOn: cron.nextAfter(Math.max(tick, now)) }),
    });
    return { run, params: windowed, refusal: run ? undefined : refusal };
  }
}
