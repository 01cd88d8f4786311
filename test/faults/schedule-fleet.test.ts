import { TestServer, TestStore, TestWorker, waitFor } from '../e2e/harness';
import { observed, Processes, sql } from './support';

/** The schedule clock at 10x: a minute schedule ticks every 6 s of real time, in every process alike. */
const SPEED = 10;
const MINUTE = 60_000;

interface Run {
  tick: number;
  runs: number;
  status: string;
}

/**
 * Exactly one run per tick with 2 servers and 2 workers on one MariaDB, all ticking the same schedule;
 * then everything stopped across 3 ticks and started again gives one catch-up run, not one per missed tick.
 */
describe('schedule runs in a fleet: 2 servers + 2 workers (MariaDB)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  const anchor = Date.now();
  const env = { SLUICE_SCHEDULE_CLOCK: `${SPEED}@${anchor}`, EXPORT_WORKERS: '0', MAX_DATA_EXPORTS: '1000' };
  const scheduleNow = () => anchor + (Date.now() - anchor) * SPEED;
  let fleet: { servers: TestServer[]; workers: TestWorker[] };
  let alice: { token: string; dataset: string };
  let scheduleId: string;

  const start = async () => {
    const servers = await Promise.all([procs.server(store, env), procs.server(store, env)]);
    const workers = await Promise.all([procs.worker(store, env), procs.worker(store, env)]);
    return { servers, workers };
  };

  /** Runs per tick, from the database: runs are named "<schedule> <ISO tick>". */
  const runsPerTick = async (): Promise<Run[]> => {
    const rows = await sql<{ name: string; n: number; status: string }>(store.databaseUrl,
      'SELECT name, COUNT(*) AS n, MIN(status) AS status FROM data_export WHERE schedule_id = ? GROUP BY name', [scheduleId]);
    return rows.map((r) => ({ tick: Date.parse(r.name.slice('fleet '.length)), runs: Number(r.n), status: r.status })).sort((a, b) => a.tick - b.tick);
  };

  const queuedLogLines = () => [...fleet.servers, ...fleet.workers].flatMap((p) => p.logs.split('\n').filter((l) => l.includes('schedule run queued')));

  beforeAll(async () => {
    await store.create();
    alice = await store.seededUser('alice@example.com', 1000);
    fleet = await start();
    const res = await fleet.servers[0].data(
      'mutation($input: CreateExportScheduleInput!) { createExportSchedule(input: $input) { responseCode message item { id } } }',
      { input: { name: 'fleet', cron: '* * * * *', export: { dataRange: { datasets: [alice.dataset] } } } },
      alice.token,
    );
    expect(res.createExportSchedule.responseCode).toBe('SUCCESS');
    scheduleId = res.createExportSchedule.item.id;
  });

  afterAll(async () => {
    await procs.killAll();
    await store.drop();
  });

  test('every tick makes exactly one run, made by one of the four processes', async () => {
    const runs = await waitFor(async () => {
      const r = await runsPerTick();
      return r.length >= 5 ? r : undefined;
    }, 'five ticks', 120_000, 200);
    const ticks = runs.map((r) => r.tick);
    expect(runs.map((r) => r.runs)).toEqual(runs.map(() => 1));
    // No tick lost between the first and the last.
    for (let i = 1; i < ticks.length; i++) expect(ticks[i] - ticks[i - 1]).toBe(MINUTE);
    // Each run was queued by exactly one process (the others lost the tick's key or found it taken).
    const lines = queuedLogLines().map((l) => JSON.parse(l) as { tick: number });
    for (const t of ticks) expect(lines.filter((l) => l.tick === t)).toHaveLength(1);
    const makers = [...fleet.servers, ...fleet.workers].map((p) => p.logs.split('\n').filter((l) => l.includes('schedule run queued')).length);
    await waitFor(async () => (await runsPerTick()).slice(0, 5).every((r) => r.status === 'COMPLETED'), 'the runs to complete', 60_000, 200);
    observed('schedule fleet', { ticks: ticks.length, runsPerTick: runs.map((r) => r.runs), makersPerProcess: makers });
  });

  test('everything stopped across 3 ticks and started again: one catch-up run, then one per tick again', async () => {
    await Promise.all([...fleet.servers.map((s) => s.stop()), ...fleet.workers.map((w) => w.stop())]);
    const stoppedAt = scheduleNow();
    const before = await runsPerTick();
    const lastBefore = before[before.length - 1].tick;
    // 3.5 ticks of schedule time with nothing running.
    await new Promise((r) => setTimeout(r, (3.5 * MINUTE) / SPEED));
    const restartAt = scheduleNow();
    fleet = await start();
    const upAt = scheduleNow();
    const after = await waitFor(async () => {
      const r = (await runsPerTick()).filter((x) => x.tick > lastBefore);
      return r.filter((x) => x.tick > upAt).length >= 3 ? r : undefined;
    }, 'a catch-up run and three more ticks with the whole fleet up', 120_000, 200);
    expect(after.map((r) => r.runs)).toEqual(after.map(() => 1));
    // The first run after the restart stands for all the ticks missed: none of them has a run of its own.
    const [catchUp] = after;
    expect(catchUp.tick).toBeGreaterThanOrEqual(restartAt - MINUTE);
    const missed = (catchUp.tick - lastBefore) / MINUTE;
    expect(missed).toBeGreaterThanOrEqual(3);
    // With the whole fleet up again, every tick has its run.
    const resumed = after.filter((r) => r.tick > upAt);
    for (let i = 1; i < resumed.length; i++) expect(resumed[i].tick - resumed[i - 1].tick).toBe(MINUTE);
    observed('schedule catch-up', {
      stoppedForTicks: (restartAt - stoppedAt) / MINUTE, missedTicks: missed, runsForMissedTicks: 1, runsPerTickAfter: after.map((r) => r.runs), restartTookTicks: (upAt - restartAt) / MINUTE,
    });
  });
});
