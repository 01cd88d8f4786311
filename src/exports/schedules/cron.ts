import { Cron } from 'croner';
import { badRequest } from '../../errors';
import { isValidTimeZone } from '../formats/csv';

/**
 * A schedule's cron expression in its IANA zone. Croner handles daylight saving the way cron users
 * expect: a fixed time that falls in a spring-forward gap runs right after the gap, one that occurs twice
 * in a fall-back runs once, and interval expressions (`*`, steps) follow real time.
 */
export class CronSchedule {
  private readonly cron: Cron;

  private constructor(readonly expression: string, readonly timeZone: string) {
    this.cron = new Cron(expression, { timezone: timeZone, paused: true, mode: '5-part' });
  }

  /** Parses and checks an expression; a bad one is BAD_REQUEST saying what is wrong. */
  static parse(expression: string, timeZone: string): CronSchedule {
    const fields = expression.trim().split(/\s+/).filter(Boolean);
    if (fields.length !== 5) {
      throw badRequest(`cron "${expression}" has ${fields.length} field${fields.length === 1 ? '' : 's'}; it needs five: minute hour day-of-month month day-of-week, e.g. "0 2 * * *"`);
    }
    if (!isValidTimeZone(timeZone)) throw badRequest(`timeZone "${timeZone}" is not an IANA time zone (e.g. "Europe/Paris")`);
    let schedule: CronSchedule;
    try {
      schedule = new CronSchedule(fields.join(' '), timeZone);
    } catch (err) {
      throw badRequest(`cron "${expression}" is not valid: ${(err as Error).message.replace(/^CronPattern:\s*/, '')}`);
    }
    if (schedule.nextAfter(Date.now()) === null) throw badRequest(`cron "${expression}" never fires (no such date in ${timeZone})`);
    return schedule;
  }

  /** The first tick strictly after `t` (epoch ms), or null if there is none. */
  nextAfter(t: number): number | null {
    return this.cron.nextRun(new Date(t))?.getTime() ?? null;
  }

  /**
   * The latest tick in (after, upTo], or null: ticks missed while nothing ran collapse into this one, so
   * they give one catch-up run. Found backwards from upTo, so a long outage costs no more than a short one.
   */
  latestIn(after: number, upTo: number): number | null {
    // Croner works in whole seconds and looks strictly before its reference.
    const prev = this.cron.previousRuns(1, new Date(Math.floor(upTo / 1000) * 1000 + 1000))[0]?.getTime() ?? null;
    return prev !== null && prev > after && prev <= upTo ? prev : null;
  }
}
