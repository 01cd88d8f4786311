/** Epoch microseconds now; events and filters work in µs, the API mostly in ms. */
export function nowMicros(): number {
  return Date.now() * 1000;
}

/** Epoch ms as schedules see it; a function, so tests hand a schedule service a clock of their own. */
export type Clock = () => number;

/**
 * The clock schedules tick by. `SLUICE_SCHEDULE_CLOCK=<factor>@<anchor epoch ms>` (for tests of many cron
 * ticks across processes; the same value in every process) runs it `factor` times faster than real time
 * from the anchor on, so a minute schedule ticks every few seconds. Unset: real time.
 */
export function scheduleClock(env: NodeJS.ProcessEnv = process.env): { now: Clock; speed: number } {
  const m = /^(\d+(?:\.\d+)?)@(\d+)$/.exec(env.SLUICE_SCHEDULE_CLOCK ?? '');
  if (!m) return { now: Date.now, speed: 1 };
  const speed = Number(m[1]);
  const anchor = Number(m[2]);
  return { now: () => anchor + Math.round((Date.now() - anchor) * speed), speed };
}
