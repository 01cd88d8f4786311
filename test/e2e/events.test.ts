import { collect, parseCsv, STORE, TestServer, TestStore, waitFor, waitForExport, wsClient } from './harness';

const T0 = 1_700_000_000_000;
const CREATE = 'mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message item { id dataRange { metrics } } } }';

/** The journey of a client written for Obelisk: its types, its limits, its replacement rule, its snapshot. */
describe(`events as Obelisk defines them, on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let dataset: string;

  const ingest = (body: unknown, ds = dataset, t = token, query = '') =>
    fetch(`${server.url}/api/v3/data/ingest/${ds}${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` },
      body: Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });

  const exportCsv = async (input: Record<string, unknown>, t = token): Promise<string[][]> => {
    const d = await server.data(CREATE, { i: { timestampPrecision: 'MICROSECONDS', ...input } }, t);
    expect(d.createExport.responseCode).toBe('SUCCESS');
    await waitForExport(server, t, d.createExport.item.id);
    const res = await fetch(`${server.url}/api/v3/data/exports/${d.createExport.item.id}`, { headers: { authorization: `Bearer ${t}` } });
    expect(res.status).toBe(200);
    return parseCsv(await res.text());
  };

  beforeAll(async () => {
    await store.create();
    ({ token } = await store.cli<{ token: string }>(['user', 'create', '--email', 'obelisk@example.com']));
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'things', '--owner', 'obelisk@example.com'])).id;
    server = new TestServer(store);
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('number, number[], bool (and boolean), string and json: stored, exported as bool, number[] as compact JSON', async () => {
    const res = await ingest([
      { timestamp: T0, metric: 'on::bool', value: true, source: 'lamp' },
      { timestamp: T0 + 1, metric: 'on::boolean', value: false, source: 'lamp' },
      { timestamp: T0 + 2, metric: 'accel::number[]', value: [1, 2.5, -3, 1e-7], source: 'imu' },
      { timestamp: T0 + 3, metric: 'accel::number[]', value: [], source: 'imu' },
      { timestamp: T0 + 4, metric: 'temp::number', value: 21.5, source: 'lamp' },
      { timestamp: T0 + 5, metric: 'note::string', value: 'ok', source: 'lamp' },
      { timestamp: T0 + 6, metric: 'cfg::json', value: { a: [1, { b: 'c' }] }, source: 'lamp' },
    ]);
    expect(res.status).toBe(204);
    const rows = await exportCsv({ dataRange: { datasets: dataset, metrics: ['on::boolean', '*::number[]', 'temp::number', 'note::string', 'cfg::json'] } });
    expect(rows.slice(1).map((r) => [r[2], r[4]])).toEqual([
      ['on::bool', 'true'], ['on::bool', 'false'], ['accel::number[]', '[1,2.5,-3,1e-7]'], ['accel::number[]', '[]'],
      ['temp::number', '21.5'], ['note::string', 'ok'], ['cfg::json', '{"a":[1,{"b":"c"}]}'],
    ]);
    const d = await server.data(CREATE, { i: { dataRange: { datasets: dataset, metrics: ['on::boolean'] } } }, token);
    expect(d.createExport.item.dataRange.metrics).toEqual(['on::bool']);
    const metrics = (await server.data(`{ dataset(id: "${dataset}") { metrics { id } } }`, {}, token)).dataset.metrics.map((m: { id: string }) => m.id);
    expect(metrics).toEqual(expect.arrayContaining(['on::bool', 'accel::number[]']));
    expect(metrics).not.toContain('on::boolean');
  });

  test('filters: value->N addresses an element of a number[] value; a boolean operand and a boolean metric name mean bool', async () => {
    const range = { datasets: dataset, metrics: ['on::bool', 'accel::number[]'] };
    const values = async (filter: unknown) => (await exportCsv({ dataRange: range, filter })).slice(1).map((r) => r[4]);
    expect(await values({ 'value->1': { _gt: 2 } })).toEqual(['[1,2.5,-3,1e-7]']);
    expect(await values({ 'value->0': { _exists: false } })).toEqual(['true', 'false', '[]']);
    expect(await values({ value: { _eq: true } })).toEqual(['true']);
    expect(await values({ metric: { _eq: 'on::boolean' } })).toEqual(['true', 'false']);
  });

  test.each([
    ['a metric name over 128 characters', { metric: `${'m'.repeat(129)}::number`, value: 1 }, /event 1: the metric name has more than 128 characters/],
    ['a source over 128 characters', { metric: 'x::number', value: 1, source: 's'.repeat(129) }, /event 1: source has more than 128 characters/],
    ['a tag over 128 characters', { metric: 'x::number', value: 1, tags: ['ok', 't'.repeat(129)] }, /event 1: tag 1 has more than 128 characters/],
    ['33 tags', { metric: 'x::number', value: 1, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, /event 1: 33 tags; an event has at most 32/],
    ['a number[] of 129 entries', { metric: 'x::number[]', value: Array(129).fill(1) }, /event 1: value has 129 entries; a number\[\] holds at most 128/],
    ['a string of 65 536 characters', { metric: 'x::string', value: 'é'.repeat(65_536) }, /event 1: value has more than 65535 characters/],
    ['a json value over 65 535 characters', { metric: 'x::json', value: { s: 'a'.repeat(65_535) } }, /event 1: value has more than 65535 characters as compact JSON/],
    ['a timestamp of 0', { timestamp: 0, metric: 'x::number', value: 1 }, /event 1: timestamp must be a positive integer/],
    ['a fractional timestamp', { timestamp: 1.5, metric: 'x::number', value: 1 }, /event 1: timestamp must be a positive integer/],
    ['an unknown type', { metric: 'x::float', value: 1 }, /event 1: metric "x::float" must be "name::type" with type number, number\[\], bool, string, json/],
    ['a bool given a number', { metric: 'x::bool', value: 1 }, /event 1: value 1 is not a bool/],
  ])('%s is refused with 400 naming the index and the rule, and nothing is stored', async (_what, bad, message) => {
    const res = await ingest([{ timestamp: T0 + 100, metric: 'kept::number', value: 1 }, { timestamp: T0 + 101, ...bad }]);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    const e = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: dataset, metrics: ['kept::number'] } } }, token);
    expect(e.estimateExport.records).toBe(0);
  });

  test('1e400 in a json value (or a number) is refused, never stored as null', async () => {
    for (const [metric, raw] of [['j::json', '{"a":[1,1e400]}'], ['n::number', '1e400'], ['v::number[]', '[1,1e400]']]) {
      const res = await ingest(Buffer.from(`[{"timestamp":${T0},"metric":"ok::number","value":1},{"timestamp":${T0},"metric":"${metric}","value":${raw}}]`));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^event 1: .*(too large for a double|like 1e400)/);
    }
  });

  test('invalid UTF-8 is refused with the event it is in; a lone surrogate escape too', async () => {
    const body = Buffer.concat([Buffer.from(`[{"timestamp":${T0},"metric":"ok::string","value":"fine"},{"timestamp":${T0},"metric":"ok::string","value":"bad `), Buffer.from([0xc3, 0x28]), Buffer.from('"}]')]);
    let res = await ingest(body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^event 1: the body is not valid UTF-8 \(byte \d+\)/);
    res = await ingest(Buffer.from(`[{"timestamp":${T0},"metric":"ok::string","value":"\\ud800"}]`));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^event 0: value holds a lone UTF-16 surrogate/);
  });

  test('an event whose identity is stored is replaced: a retried POST adds nothing, and within one request the later wins', async () => {
    const { id: ds } = await store.cli<{ id: string }>(['dataset', 'create', '--name', 'retries', '--owner', 'obelisk@example.com']);
    const batch = [
      { timestamp: T0, metric: 'rpm::number', value: 1, source: 'motor' },
      { timestamp: T0, metric: 'rpm::number', value: 2 }, // no source: another identity
      { timestamp: T0, metric: 'rpm::number', value: 3, source: 'motor', producer: { userId: 'u', clientId: 'c' } },
      { timestamp: T0 + 1, metric: 'rpm::number', value: 4, source: 'motor' },
    ];
    expect((await ingest(batch, ds)).status).toBe(204);
    expect((await ingest(batch, ds)).status).toBe(204); // the retry
    // One request holding one identity twice: the later one is kept.
    expect((await ingest([{ timestamp: T0 + 1, metric: 'rpm::number', value: 40, source: 'motor', tags: ['a'] }, { timestamp: T0 + 1, metric: 'rpm::number', value: 41, source: 'motor' }], ds)).status).toBe(204);
    // Microseconds: the same instant given in another precision is the same identity.
    expect((await ingest([{ timestamp: (T0 + 1) * 1000, metric: 'rpm::number', value: 42, source: 'motor' }], ds, token, '?timestampPrecision=MICROSECONDS')).status).toBe(204);
    const rows = await exportCsv({ dataRange: { datasets: ds }, fields: ['timestamp', 'source', 'value', 'producer', 'tags'] });
    expect(rows.slice(1)).toEqual([
      [`${T0 * 1000}`, 'motor', '1', '', ''],
      [`${T0 * 1000}`, '', '2', '', ''],
      [`${T0 * 1000}`, 'motor', '3', '{"userId":"u","clientId":"c"}', ''],
      [`${(T0 + 1) * 1000}`, 'motor', '42', '', ''],
    ]);
    // The hourly counts behind estimates grew only by the new events.
    const e = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: ds } } }, token);
    expect(e.estimateExport.records).toBe(4);
  });

  test('seed keeps the rule: seeding the same range again replaces, and the counts stay right', async () => {
    const { id: ds } = await store.cli<{ id: string }>(['dataset', 'create', '--name', 'seeded', '--owner', 'obelisk@example.com']);
    for (let i = 0; i < 2; i++) expect(await store.cli(['seed', '--dataset', ds, '--events', '3000', '--start', String(T0)])).toEqual({ inserted: 3000 });
    const e = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: ds } } }, token);
    expect(e.estimateExport.records).toBe(3000);
    expect((await exportCsv({ dataRange: { datasets: ds }, fields: ['timestamp'] })).length).toBe(3001);
  });

  test('recordsEstimate is filled in before the first GENERATING state a subscriber sees', async () => {
    const { id: ds } = await store.cli<{ id: string }>(['dataset', 'create', '--name', 'estimated', '--owner', 'obelisk@example.com']);
    await store.cli(['seed', '--dataset', ds, '--events', '20000']);
    for (let round = 0; round < 3; round++) {
      const d = await server.data(CREATE, { i: { dataRange: { datasets: ds }, filter: { source: { _startsWith: 'sensor-00' } } } }, token);
      const { client } = wsClient(server, token);
      const seen = collect<{ exportUpdated: { status: { status: string; recordsEstimate: number } } }>(
        client, 'subscription($id: String!) { exportUpdated(id: $id) { status { status recordsEstimate } } }', { id: d.createExport.item.id });
      await seen.done;
      await client.dispose();
      const generating = seen.messages.map((m) => m.data.exportUpdated.status).filter((s) => s.status !== 'QUEUING');
      expect(generating.length).toBeGreaterThan(0);
      for (const s of generating) expect(s.recordsEstimate).toBe(20000);
    }
  });
});

describe(`the snapshot on ${STORE}: an export holds the events received up to its request, whenever it starts`, () => {
  const store = new TestStore();
  let server: TestServer;

  beforeAll(async () => {
    await store.create();
    server = new TestServer(store, { EXPORT_CONCURRENCY: '2' });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('with both worker slots held by two other users, events ingested after the request are absent from the file', async () => {
    const ann = await store.seededUser('ann@example.com', 600_000, 'big');
    const { token: bea } = await store.cli<{ token: string }>(['user', 'create', '--email', 'bea@example.com']);
    await store.cli(['dataset', 'grant', '--dataset', ann.dataset, '--email', 'bea@example.com', '--permission', 'READ']);
    const { token: cid } = await store.cli<{ token: string }>(['user', 'create', '--email', 'cid@example.com']);
    const { id: mine } = await store.cli<{ id: string }>(['dataset', 'create', '--name', 'mine', '--owner', 'cid@example.com']);
    const ingest = (events: unknown[]) =>
      fetch(`${server.url}/api/v3/data/ingest/${mine}`, { method: 'POST', headers: { authorization: `Bearer ${cid}` }, body: JSON.stringify(events) });
    expect((await ingest([{ timestamp: T0, metric: 'v::number', value: 1, source: 'before' }, { timestamp: T0 + 2, metric: 'v::number', value: 2, source: 'replaced' }])).status).toBe(204);

    const long: string[] = [];
    for (const t of [ann.token, bea]) long.push((await server.data(CREATE, { i: { dataRange: { datasets: ann.dataset }, fields: ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'] } }, t)).createExport.item.id);
    await waitFor(async () => {
      const states = await Promise.all(long.map(async (id, i) => (await server.data('query($id: String!) { me { export(id: $id) { status { status } } } }', { id }, [ann.token, bea][i])).me.export.status.status));
      return states.every((s) => s === 'GENERATING');
    }, 'both slots to be busy');

    const queued = (await server.data(CREATE, { i: { dataRange: { datasets: mine }, timestampPrecision: 'MICROSECONDS' } }, cid)).createExport.item.id;
    expect((await ingest([
      { timestamp: T0 + 1, metric: 'v::number', value: 3, source: 'after' },
      { timestamp: T0 + 2, metric: 'v::number', value: 20, source: 'replaced' },
    ])).status).toBe(204);
    const status = (await server.data('query($id: String!) { me { export(id: $id) { status { status } } } }', { id: queued }, cid)).me.export.status.status;
    expect(status).toBe('QUEUING'); // the later events went in while the export waited

    await waitForExport(server, cid, queued, ['COMPLETED'], 300_000);
    const res = await fetch(`${server.url}/api/v3/data/exports/${queued}`, { headers: { authorization: `Bearer ${cid}` } });
    const rows = parseCsv(await res.text());
    // Only the event received before the request and not replaced since.
    expect(rows.slice(1).map((r) => [r[3], r[4]])).toEqual([['before', '1']]);
    for (const [i, id] of long.entries()) await server.data('mutation($id: String!) { onExport(id: $id) { cancel { responseCode } } }', { id }, [ann.token, bea][i]);
  });
});
