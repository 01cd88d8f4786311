import { STORE, TestServer, TestStore, waitFor, waitForExport } from './harness';

const SCHEDULE_FIELDS = 'id name cron timeZone incremental paused definition nextRunOn lastRunOn lastMessage createdOn';
const RUN_FIELDS = 'id name requestedOn status { status message } schedule { id name }';

const CREATE = `mutation($input: CreateExportScheduleInput!) { createExportSchedule(input: $input) {
  responseCode message item { ${SCHEDULE_FIELDS} } } }`;
const ACT = (action: string) => `mutation($id: String!) { onExportSchedule(id: $id) { ${action} { responseCode message item { ${SCHEDULE_FIELDS} runs { ${RUN_FIELDS} } } } } }`;
const MINE = `{ me { exportSchedules { ${SCHEDULE_FIELDS} runs(limit: 50) { ${RUN_FIELDS} } } } }`;
const EXPORT = `query($id: String!) { me { export(id: $id) { ${RUN_FIELDS} status { recordsProcessed } } } }`;
const RERUN = `mutation($id: String!) { onExport(id: $id) { rerun { responseCode message item { id name status { status } schedule { id } } } } }`;

/** The schedule clock at 60x: a minute schedule ticks every second, so ticks can be watched in a test. */
const fastClock = () => ({ SLUICE_SCHEDULE_CLOCK: `60@${Date.now()}` });

describe(`export schedules on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let alice: { token: string; dataset: string };

  const mine = async (token: string) => (await server.data(MINE, {}, token)).me.exportSchedules as any[];
  const act = async (action: string, id: string, token: string, via = server) => (await via.data(ACT(action), { id }, token)).onExportSchedule[action];
  const create = async (input: Record<string, unknown>, token: string, via = server) => (await via.data(CREATE, { input }, token)).createExportSchedule;

  beforeAll(async () => {
    await store.create();
    alice = await store.seededUser('alice@example.com', 2000);
    server = new TestServer(store);
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('bad cron expressions and bad definitions are refused with the reason, and make no schedule', async () => {
    const base = { name: 'nightly', export: { dataRange: { datasets: [alice.dataset] } } };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...base, cron: '0 2 * *' }, 'BAD_REQUEST', /cron "0 2 \* \*" has 4 fields; it needs five/],
      [{ ...base, cron: '0 2 * * * *' }, 'BAD_REQUEST', /has 6 fields/],
      [{ ...base, cron: '75 2 * * *' }, 'BAD_REQUEST', /cron "75 2 \* \* \*" is not valid: Invalid value for minute: 75/],
      [{ ...base, cron: '0 2 30 2 *' }, 'BAD_REQUEST', /never fires/],
      [{ ...base, cron: '0 2 * * *', timeZone: 'Europe/Atlantis' }, 'BAD_REQUEST', /timeZone "Europe\/Atlantis" is not an IANA time zone/],
      [{ ...base, cron: '0 2 * * *', name: ' ' }, 'BAD_REQUEST', /non-empty name/],
      // The definition is checked by the same code as createExport.
      [{ ...base, cron: '0 2 * * *', export: { dataRange: { datasets: ['9999'] } } }, 'NOT_FOUND', /dataset 9999 not found or not readable/],
      [{ ...base, cron: '0 2 * * *', export: { dataRange: { datasets: [alice.dataset] }, filter: { nope: { _eq: 1 } } } }, 'BAD_REQUEST', /nope/],
      [{ ...base, cron: '0 2 * * *', export: { dataRange: { datasets: [alice.dataset] }, from: 10, to: 5 } }, 'BAD_REQUEST', /from \(10\) must be before to \(5\)/],
    ];
    for (const [input, code, reason] of cases) {
      const res = await create(input, alice.token);
      expect([res.responseCode, res.message]).toEqual([code, expect.stringMatching(reason)]);
      expect(res.item).toBeNull();
    }
    expect(await mine(alice.token)).toEqual([]);
  });

  test('create, list, runNow, the run as an ordinary export linked to its schedule, pause, resume, remove keeps the runs', async () => {
    const made = await create({ name: 'daily sensors', cron: '30 2 * * *', timeZone: 'Europe/Paris', export: { dataRange: { datasets: [alice.dataset] }, fields: ['timestamp', 'value'] } }, alice.token);
    expect(made.responseCode).toBe('SUCCESS');
    const s = made.item;
    expect(s).toMatchObject({ name: 'daily sensors', cron: '30 2 * * *', timeZone: 'Europe/Paris', incremental: false, paused: false, lastRunOn: null, lastMessage: null });
    expect(s.definition).toMatchObject({ dataRange: { datasets: [alice.dataset] }, fields: ['timestamp', 'value'] });
    // The next 02:30 in Paris, within a day.
    expect(s.nextRunOn).toBeGreaterThan(Date.now());
    expect(s.nextRunOn - Date.now()).toBeLessThanOrEqual(25 * 3600_000);
    expect(new Date(s.nextRunOn).toLocaleString('sv', { timeZone: 'Europe/Paris' }).slice(11)).toBe('02:30:00');
    expect((await mine(alice.token)).map((x) => x.id)).toEqual([s.id]);

    const ran = await act('runNow', s.id, alice.token);
    expect(ran.responseCode).toBe('SUCCESS');
    const runId = /run (\S+) queued/.exec(ran.message)?.[1] as string;
    expect(ran.item.runs.map((r: { id: string }) => r.id)).toEqual([runId]);
    const run = ran.item.runs[0];
    expect(run.name).toMatch(new RegExp(`^daily sensors \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$`));
    expect(Date.parse(run.name.slice('daily sensors '.length))).toBe(ran.item.lastRunOn);
    expect(run.schedule).toEqual({ id: s.id, name: 'daily sensors' });
    const done = await waitForExport(server, alice.token, runId);
    expect(done.status.recordsProcessed).toBe(2000);
    // Runs are ordinary exports: they are in the export list too.
    const listed = await server.data('{ me { exports { items { id schedule { id } } } } }', {}, alice.token);
    expect(listed.me.exports.items).toContainEqual({ id: runId, schedule: { id: s.id } });

    const paused = await act('pause', s.id, alice.token);
    expect(paused.item).toMatchObject({ paused: true, nextRunOn: null });
    const resumed = await act('resume', s.id, alice.token);
    expect(resumed.item.paused).toBe(false);
    expect(resumed.item.nextRunOn).toBe(s.nextRunOn);

    const removed = await act('remove', s.id, alice.token);
    expect([removed.responseCode, removed.message]).toEqual(['SUCCESS', `schedule ${s.id} removed`]);
    expect(await mine(alice.token)).toEqual([]);
    const kept = (await server.data(EXPORT, { id: runId }, alice.token)).me.export;
    expect(kept).toMatchObject({ id: runId, status: { status: 'COMPLETED' }, schedule: null });
    expect((await act('pause', s.id, alice.token)).responseCode).toBe('NOT_FOUND');
  });

  test('a user holds at most 100 schedules, also when 110 are asked for at once; removing one makes room', async () => {
    const carol = await store.seededUser('capped@example.com', 10);
    const input = (i: number, dataset = carol.dataset) => ({ name: `hourly ${i}`, cron: '0 * * * *', export: { dataRange: { datasets: [dataset] } } });
    const answers = await Promise.all(Array.from({ length: 110 }, (_, i) => create(input(i), carol.token)));
    const codes = answers.map((a) => a.responseCode);
    expect(codes.filter((c) => c === 'SUCCESS')).toHaveLength(100);
    const refused = answers.filter((a) => a.responseCode !== 'SUCCESS');
    expect(refused).toHaveLength(10);
    for (const r of refused) {
      expect(r.responseCode).toBe('LIMIT_REACHED');
      expect(r.message).toBe('you already have 100 export schedules; at most 100 are allowed. Remove one you no longer need (onExportSchedule(id).remove) first.');
      expect(r.item).toBeNull();
    }
    const held = await mine(carol.token);
    expect(held).toHaveLength(100);
    expect((await act('remove', held[0].id, carol.token)).responseCode).toBe('SUCCESS');
    expect((await create(input(200), carol.token)).responseCode).toBe('SUCCESS');
    expect((await create(input(201), carol.token)).responseCode).toBe('LIMIT_REACHED');
    // Another user is not affected by carol's schedules.
    expect((await create(input(0, alice.dataset), alice.token)).responseCode).toBe('SUCCESS');
    const extra = (await mine(alice.token)).find((x) => x.name === 'hourly 0');
    expect((await act('remove', extra.id, alice.token)).responseCode).toBe('SUCCESS');
  });

  test("another user's schedule does not exist for them", async () => {
    const bob = await store.seededUser('bob@example.com', 10, 'bobs');
    const s = (await create({ name: 'mine', cron: '0 0 * * *', export: { dataRange: { datasets: [alice.dataset] } } }, alice.token)).item;
    for (const action of ['pause', 'resume', 'runNow', 'remove']) {
      const res = await act(action, s.id, bob.token);
      expect([res.responseCode, res.message]).toEqual(['NOT_FOUND', `schedule ${s.id} not found`]);
    }
    expect(await mine(bob.token)).toEqual([]);
    expect((await mine(alice.token)).map((x) => x.id)).toEqual([s.id]);
    await act('remove', s.id, alice.token);
  });

  test('rerun: a new export with the same definition; refused for anyone else', async () => {
    const first = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { item { id } } }', { i: { name: 'again', dataRange: { datasets: [alice.dataset] }, limit: 123 } }, alice.token);
    const id = first.createExport.item.id;
    await waitForExport(server, alice.token, id);
    const again = (await server.data(RERUN, { id }, alice.token)).onExport.rerun;
    expect(again.responseCode).toBe('SUCCESS');
    expect(again.item).toMatchObject({ name: 'again', schedule: null });
    expect(again.item.id).not.toBe(id);
    const done = await waitForExport(server, alice.token, again.item.id);
    expect(done.status.recordsProcessed).toBe(123);
    const other = await store.cli<{ token: string }>(['user', 'create', '--email', 'carol@example.com']);
    expect((await server.data(RERUN, { id }, other.token)).onExport.rerun).toMatchObject({ responseCode: 'NOT_FOUND', item: null });
  });
});

describe(`schedule ticks on ${STORE} (schedule clock at 60x)`, () => {
  const store = new TestStore();
  let server: TestServer;
  let alice: { token: string; dataset: string };
  let owner: { token: string; dataset: string };

  beforeAll(async () => {
    await store.create();
    alice = await store.seededUser('alice@example.com', 100);
    owner = await store.seededUser('olga@example.com', 100, 'shared');
    // No worker: exports stay QUEUING, so the limit of 2 is reached on purpose.
    server = new TestServer(store, { ...fastClock(), EXPORT_WORKERS: '0', MAX_DATA_EXPORTS: '2' });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  const schedule = async (token: string, dataset: string, name: string) => {
    const res = await server.data(CREATE, { input: { name, cron: '* * * * *', export: { dataRange: { datasets: [dataset] } } } }, token);
    expect(res.createExportSchedule.responseCode).toBe('SUCCESS');
    return res.createExportSchedule.item.id as string;
  };
  const scheduleOf = async (token: string, id: string) => ((await server.data(MINE, {}, token)).me.exportSchedules as any[]).find((s) => s.id === id);

  test('each tick makes a run named by its tick; at maxDataExports a tick makes none and says why', async () => {
    const id = await schedule(alice.token, alice.dataset, 'every minute');
    const full = await waitFor(async () => {
      const s = await scheduleOf(alice.token, id);
      return s.lastMessage ? s : undefined;
    }, 'a tick to find the limit reached', 60_000, 100);
    expect(full.lastMessage).toMatch(/^no run for the tick at \d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z: you already have 2 exports queued or generating; the limit is 2 \(maxDataExports\)/);
    expect(full.runs).toHaveLength(2);
    const tickTimes = full.runs.map((r: { name: string }) => Date.parse(r.name.slice('every minute '.length))).sort();
    // Two ticks of the minute schedule, a minute of schedule time apart, each named by its tick.
    expect(tickTimes[1] - tickTimes[0]).toBe(60_000);
    expect(tickTimes.every((t: number) => t % 60_000 === 0)).toBe(true);
    // runNow says so too, in the envelope.
    const now = (await server.data(ACT('runNow'), { id }, alice.token)).onExportSchedule.runNow;
    expect([now.responseCode, now.message]).toEqual(['LIMIT_REACHED', expect.stringMatching(/the limit is 2 \(maxDataExports\)/)]);
    await server.data(ACT('pause'), { id }, alice.token);
    // A run still QUEUING cannot be re-run yet.
    const queued = full.runs[0].id;
    const rerun = (await server.data(RERUN, { id: queued }, alice.token)).onExport.rerun;
    expect([rerun.responseCode, rerun.message]).toEqual(['BAD_REQUEST', `export ${queued} is QUEUING; only a finished export (COMPLETED, FAILED or CANCELLED) can be re-run`]);
  });

  test('a schedule whose owner lost READ on its dataset makes no run, and says why', async () => {
    const bert = await store.cli<{ token: string }>(['user', 'create', '--email', 'bert2@example.com']);
    expect((await server.data('mutation($d: String!) { onDataset(id: $d) { addMember(email: "bert2@example.com", permission: READ) { responseCode } } }', { d: owner.dataset }, owner.token)).onDataset.addMember.responseCode).toBe('SUCCESS');
    const id = await schedule(bert.token, owner.dataset, 'shared feed');
    expect((await server.data('mutation($d: String!) { onDataset(id: $d) { removeMember(email: "bert2@example.com") { responseCode } } }', { d: owner.dataset }, owner.token)).onDataset.removeMember.responseCode).toBe('SUCCESS');
    const refused = await waitFor(async () => {
      const s = await scheduleOf(bert.token, id);
      return s.lastMessage ? s : undefined;
    }, 'a tick to find READ gone', 60_000, 100);
    expect(refused.lastMessage).toMatch(new RegExp(`^no run for the tick at .*: dataset ${owner.dataset} not found or not readable$`));
    expect(refused.runs).toEqual([]);
    expect(refused.lastRunOn).toBeNull();
    // Ticks go on being checked: the next one is still due.
    expect(refused.nextRunOn).toBeGreaterThan(0);
  });
});
