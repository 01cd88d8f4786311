import { CronSchedule } from '../../src/exports/schedules/cron';
import { SluiceError } from '../../src/errors';

/** Every tick in (from, to], walked with nextAfter as the ticker does. */
function ticks(cron: CronSchedule, from: string, to: string): number[] {
  const out: number[] = [];
  let t = Date.parse(from);
  for (;;) {
    const next = cron.nextAfter(t);
    if (next === null || next > Date.parse(to)) return out;
    out.push(next);
    t = next;
  }
}

const wall = (t: number, zone: string) => new Date(t).toLocaleString('sv', { timeZone: zone });
const iso = (t: number) => new Date(t).toISOString();

describe('cron in a time zone, across daylight-saving changes', () => {
  test('02:30 every day in Paris: one tick a day through the spring-forward gap (none lost) and the fall-back repeat (none doubled)', () => {
    const cron = CronSchedule.parse('30 2 * * *', 'Europe/Paris');
    const spring = ticks(cron, '2026-03-27T12:00:00Z', '2026-03-31T12:00:00Z');
    // 29 March 2026 has no 02:30 in Paris: the tick comes right after the gap, at 03:00 CEST.
    expect(spring.map(iso)).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z']);
    const fall = ticks(cron, '2026-10-23T12:00:00Z', '2026-10-27T12:00:00Z');
    // 25 October 2026 has 02:30 twice (CEST then CET): one tick, at the first.
    expect(fall.map(iso)).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z', '2026-10-27T01:30:00.000Z']);
    expect(fall.map((t) => wall(t, 'Europe/Paris').slice(11))).toEqual(['02:30:00', '02:30:00', '02:30:00', '02:30:00']);
  });

  test('every hour in New York: ticks an hour of real time apart through both changes (23 on the short day, 25 on the long one)', () => {
    const cron = CronSchedule.parse('0 * * * *', 'America/New_York');
    for (const [day, expected] of [['2026-03-08', 23], ['2026-11-01', 25]] as const) {
      // The local day starts at 05:00Z (EST) on 8 March and at 04:00Z (EDT) on 1 November.
      const start = day === '2026-03-08' ? `${day}T05:00:00Z` : `${day}T04:00:00Z`;
      const end = new Date(Date.parse(start) + expected * 3_600_000).toISOString();
      const t = ticks(cron, new Date(Date.parse(start) - 1).toISOString(), new Date(Date.parse(end) - 1).toISOString());
      expect(t).toHaveLength(expected);
      expect(new Set(t).size).toBe(t.length);
      for (let i = 1; i < t.length; i++) expect(t[i] - t[i - 1]).toBe(3_600_000);
    }
  });

  test('missed ticks collapse into the latest one (one catch-up run)', () => {
    const cron = CronSchedule.parse('*/5 * * * *', 'UTC');
    const after = Date.parse('2026-12-01T10:00:00Z');
    expect(iso(cron.latestIn(after, Date.parse('2026-12-01T10:17:30Z')) as number)).toBe('2026-12-01T10:15:00.000Z');
    expect(cron.latestIn(after, Date.parse('2026-12-01T10:04:59Z'))).toBeNull();
    expect(iso(cron.latestIn(after, Date.parse('2026-12-01T10:15:00Z')) as number)).toBe('2026-12-01T10:15:00.000Z');
    // Across both daylight-saving changes, the latest tick is the one walking forward ends on.
    const paris = CronSchedule.parse('30 2 * * *', 'Europe/Paris');
    for (const [from, to] of [['2026-03-27T12:00:00Z', '2026-03-29T01:30:00Z'], ['2026-10-24T12:00:00Z', '2026-10-25T02:00:00Z'], ['2026-10-24T12:00:00Z', '2026-10-26T00:00:00Z']]) {
      expect(paris.latestIn(Date.parse(from), Date.parse(to))).toBe(ticks(paris, from, to).pop());
    }
    // A long outage: the latest tick still, found in bounded work.
    expect(iso(cron.latestIn(after, Date.parse('2027-12-01T10:03:00Z')) as number)).toBe('2027-12-01T10:00:00.000Z');
  });

  test.each([
    ['* * * * * *', /has 6 fields; it needs five: minute hour day-of-month month day-of-week/],
    ['@daily', /has 1 field; it needs five/],
    ['61 * * * *', /not valid: Invalid value for minute: 61/],
    ['0 25 * * *', /not valid: .*hour/],
    ['0 0 31 2 *', /never fires/],
    ['', /has 0 fields/],
  ])('"%s" is refused with the reason', (expr, reason) => {
    let caught: unknown;
    try {
      CronSchedule.parse(expr, 'UTC');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SluiceError);
    expect((caught as SluiceError).code).toBe('BAD_REQUEST');
    expect((caught as SluiceError).message).toMatch(reason);
  });

  test('an unknown time zone is refused', () => {
    expect(() => CronSchedule.parse('0 2 * * *', 'Mars/Olympus')).toThrow(/timeZone "Mars\/Olympus" is not an IANA time zone/);
  });
});
