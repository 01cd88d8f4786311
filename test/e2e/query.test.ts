import crypto from 'node:crypto';
import { parseCsv, STORE, TestServer, TestStore, waitFor, waitForExport } from './harness';

/** 2024-03-31 01:00:00 UTC: Europe/Paris moves from +01:00 to +02:00. */
const DST = Date.UTC(2024, 2, 31, 1, 0, 0);
const US = (ms: number, extraMicros = 0) => ms * 1000 + extraMicros;

/** Events in µs so that every precision has something to cut. */
const D1 = [
  { timestamp: US(DST - 1_800_000, 123_456), metric: 'temp::number', value: 20.5, source: 'north', tags: ['a'] },
  { timestamp: US(DST - 1, 999), metric: 'hum::number', value: -5, source: 'south', tags: ['b'] },
  { timestamp: US(DST), metric: 'status::string', value: '=HYPERLINK("http://x")', source: 'north' },
  { timestamp: US(DST + 1_800_000, 1), metric: 'flag::boolean', value: true, source: '+33 east' },
  { timestamp: US(DST + 3_600_000), metric: 'temp::number', value: 22, source: 'South' },
  { timestamp: US(DST + 7_200_000), metric: 'status::string', value: 'Fine', source: '@west' },
];
const D2 = [
  { timestamp: US(DST - 900_000), metric: 'temp::number', value: 19, source: 'd2' },
  { timestamp: US(DST + 900_000), metric: 'temp::number', value: 21, source: 'd2' },
];

describe(`filters, ranges, columns, formats and limits on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let d1: string;
  let d2: string;
  let big: string;

  const run = async (input: Record<string, unknown>, t = token, srv = server) => {
    const d = await srv.data('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message item { id } } }', { i: input }, t);
    if (d.createExport.responseCode !== 'SUCCESS') throw new Error(`${d.createExport.responseCode}: ${d.createExport.message}`);
    const done = await waitForExport(srv, t, d.createExport.item.id);
    const res = await fetch(`${srv.url}/api/v3/data/exports/${done.id}`, { headers: { authorization: `Bearer ${t}` } });
    const bytes = Buffer.from(await res.arrayBuffer());
    return { done, bytes, text: bytes.toString('utf8'), rows: parseCsv(bytes.toString('utf8')) };
  };

  beforeAll(async () => {
    await store.create();
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    await store.cli(['user', 'create', '--email', 'bo@example.com']);
    d1 = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'd1', '--owner', 'ana@example.com'])).id;
    d2 = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'd2', '--owner', 'ana@example.com'])).id;
    big = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'big', '--owner', 'ana@example.com'])).id;
    await store.cli(['dataset', 'grant', '--dataset', big, '--email', 'bo@example.com', '--permission', 'READ']);
    await store.cli(['seed', '--dataset', big, '--events', '200000']);
    server = new TestServer(store);
    await server.start();
    for (const [ds, events] of [[d1, D1], [d2, D2]] as const) {
      const res = await fetch(`${server.url}/api/v3/data/ingest/${ds}?timestampPrecision=MICROSECONDS`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(events),
      });
      expect(res.status).toBe(204);
    }
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('several datasets, metrics by name and by *::type, from inclusive and to exclusive, limit', async () => {
    const both = await run({ dataRange: { datasets: [d1, d2], metrics: ['temp::number'] }, fields: ['timestamp', 'dataset', 'source'], timestampPrecision: 'MICROSECONDS' });
    expect(both.rows.slice(1)).toEqual(
      [...D1.map((e) => ({ ...e, ds: d1 })), ...D2.map((e) => ({ ...e, ds: d2 }))]
        .filter((e) => e.metric === 'temp::number')
        .sort((a, b) => a.timestamp - b.timestamp)
        .map((e) => [String(e.timestamp), e.ds, e.source]),
    );
    const numbers = await run({ dataRange: { datasets: [d1], metrics: ['*::number'] }, fields: ['metric'] });
    expect(numbers.rows.slice(1).map((r) => r[0])).toEqual(['temp::number', 'hum::number', 'temp::number']);
    const window = await run({ dataRange: { datasets: d1 }, from: DST, to: DST + 3_600_000, fields: ['metric'] });
    expect(window.rows.slice(1).map((r) => r[0])).toEqual(['status::string', 'flag::bool']);
    const limited = await run({ dataRange: { datasets: d1 }, limit: 2, fields: ['metric'] });
    expect(limited.rows.slice(1).map((r) => r[0])).toEqual(['temp::number', 'hum::number']);
    expect(limited.done.result.truncated).toBe(false);
  });

  test('all eleven fields in any order, header off, the three precisions', async () => {
    const fields = ['tsReceived', 'value', 'geohash', 'tags', 'timestamp', 'location', 'metric', 'elevation', 'producer', 'dataset', 'source'];
    const all = await run({ dataRange: { datasets: d1 }, fields, header: false, limit: 1 });
    expect(all.rows).toHaveLength(1);
    expect(all.rows[0]).toHaveLength(11);
    expect(all.rows[0].slice(1)).toEqual(['20.5', '', '["a"]', String(DST - 1_800_000 + 123), '', 'temp::number', '', '', d1, 'north']);
    const stamp = async (timestampPrecision: string) => (await run({ dataRange: { datasets: d1 }, fields: ['timestamp'], header: false, limit: 2, timestampPrecision })).rows.map((r) => r[0]);
    expect(await stamp('SECONDS')).toEqual([String(Math.floor((DST - 1_800_000) / 1000)), String(Math.floor((DST - 1) / 1000))]);
    expect(await stamp('MILLISECONDS')).toEqual([String(DST - 1_800_000 + 123), String(DST - 1)]);
    expect(await stamp('MICROSECONDS')).toEqual([String(US(DST - 1_800_000, 123_456)), String(US(DST - 1, 999))]);
  });

  test('ISO 8601 in an IANA zone, across the daylight-saving change', async () => {
    const iso = await run({ dataRange: { datasets: d1 }, fields: ['timestamp'], header: false, timestampFormat: 'ISO8601', timeZone: 'Europe/Paris', timestampPrecision: 'MICROSECONDS' });
    expect(iso.rows.map((r) => r[0])).toEqual([
      '2024-03-31T01:30:00.123456+01:00', '2024-03-31T01:59:59.999999+01:00', '2024-03-31T03:00:00.000000+02:00',
      '2024-03-31T03:30:00.000001+02:00', '2024-03-31T04:00:00.000000+02:00', '2024-03-31T05:00:00.000000+02:00',
    ]);
    const utc = await run({ dataRange: { datasets: d1 }, fields: ['timestamp'], header: false, timestampFormat: 'ISO8601', limit: 1, timestampPrecision: 'SECONDS' });
    expect(utc.rows[0][0]).toBe('2024-03-31T00:30:00Z');
  });

  test('excelSafe: a BOM, and cells a spreadsheet would run neutralised', async () => {
    const safe = await run({ dataRange: { datasets: d1 }, fields: ['source', 'value'], excelSafe: true });
    expect(safe.bytes.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(parseCsv(safe.text.slice(1))).toEqual([
      ['source', 'value'], ['north', '20.5'], ['south', '-5'], ['north', `'=HYPERLINK("http://x")`], [`'+33 east`, 'true'], ['South', '22'], [`'@west`, 'Fine'],
    ]);
    const raw = await run({ dataRange: { datasets: d1 }, fields: ['value'], header: false, limit: 3 });
    expect(raw.rows[2][0]).toBe('=HYPERLINK("http://x")');
  });

  test('two exports of the same unchanged data are byte-identical', async () => {
    const input = { dataRange: { datasets: [big, d1] }, fields: ['timestamp', 'dataset', 'metric', 'source', 'value', 'tags', 'location'] };
    const a = await run(input);
    const b = await run(input);
    expect(a.done.result.sha256).toBe(b.done.result.sha256);
    expect(crypto.createHash('sha256').update(a.bytes).digest('hex')).toBe(a.done.result.sha256);
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(a.rows).toHaveLength(200_000 + D1.length + 1);
  });

  test('filters select exactly the matching rows; a bad one is BAD_REQUEST naming it', async () => {
    const sources = async (filter: unknown) => (await run({ dataRange: { datasets: d1 }, fields: ['source'], header: false, filter })).rows.map((r) => r[0]);
    expect(await sources({ value: { _gt: 0 } })).toEqual(['north', 'South']);
    expect(await sources({ source: { _regex: '^s', _options: 'i' } })).toEqual(['south', 'South']);
    expect(await sources({ _or: [{ tags: { _withTag: 'b' } }, { metric: { _eq: 'flag::boolean' } }] })).toEqual(['south', '+33 east']);
    expect(await sources({ _not: { source: { _in: ['north', 'south'] } } })).toEqual(['+33 east', 'South', '@west']);
    expect(await sources({ timestamp: { _gte: DST, _lt: DST + 3_600_000 } })).toEqual(['north', '+33 east']);
    const bad = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message } }', { i: { dataRange: { datasets: d1 }, filter: { value: { _gt: { x: 1 } } } } }, token);
    expect(bad.createExport.responseCode).toBe('BAD_REQUEST');
    expect(bad.createExport.message).toMatch(/_gt/);
    const op = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message } }', { i: { dataRange: { datasets: d1 }, filter: { source: { _like: 'x' } } } }, token);
    expect(op.createExport).toMatchObject({ responseCode: 'BAD_REQUEST', message: expect.stringMatching(/_like/) });
  });

  test('estimateExport: the record count of a dry run, and a byte estimate', async () => {
    const est = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records bytes } }', { i: { dataRange: { datasets: [d1, d2] }, filter: { value: { _gte: 20 } } } }, token);
    expect(est.estimateExport.records).toBe(3);
    expect(est.estimateExport.bytes).toBeGreaterThan(0);
    const real = await run({ dataRange: { datasets: [d1, d2] }, filter: { value: { _gte: 20 } } });
    expect(real.rows).toHaveLength(4);
    expect(Math.abs(est.estimateExport.bytes - real.done.result.sizeInBytes) / real.done.result.sizeInBytes).toBeLessThan(1);
  });
});

describe(`usage limits and the fair queue on ${STORE}`, () => {
  const store = new TestStore();
  let ana: string;
  let bo: string;
  let big: string;

  beforeAll(async () => {
    await store.create();
    ana = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    bo = (await store.cli<{ token: string }>(['user', 'create', '--email', 'bo@example.com'])).token;
    big = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'big', '--owner', 'ana@example.com'])).id;
    await store.cli(['dataset', 'grant', '--dataset', big, '--email', 'bo@example.com', '--permission', 'READ']);
    await store.cli(['seed', '--dataset', big, '--events', '300000']);
  });

  afterAll(() => store.drop());

  const create = (srv: TestServer, token: string, input: Record<string, unknown> = {}) =>
    srv.data('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message item { id } } }', { i: { dataRange: { datasets: big }, ...input } }, token).then((d) => d.createExport);

  test('maxDataExports holds under 50 concurrent createExport calls; usageLimit and usageRemaining show it', async () => {
    const server = new TestServer(store, { EXPORT_WORKERS: '0', MAX_DATA_EXPORTS: '4' });
    await server.start();
    try {
      const answers = await Promise.all(Array.from({ length: 50 }, () => create(server, ana)));
      expect(answers.filter((a) => a.responseCode === 'SUCCESS')).toHaveLength(4);
      const refused = answers.filter((a) => a.responseCode === 'LIMIT_REACHED');
      expect(refused).toHaveLength(46);
      expect(refused[0].message).toMatch(/the limit is 4 \(maxDataExports\)/);
      const me = await server.data('{ me { usageLimit { values } usageRemaining exports { count } } }', {}, ana);
      expect(me.me).toEqual({ usageLimit: { values: { maxDataExports: 4, maxDataExportRecords: 50_000_000 } }, usageRemaining: { maxDataExports: 0, maxDataExportRecords: 50_000_000 }, exports: { count: 4 } });
      const id = answers.find((a) => a.responseCode === 'SUCCESS').item.id;
      await server.data('mutation($id: String!) { onExport(id: $id) { cancel { responseCode } } }', { id }, ana);
      expect((await server.data('{ me { usageRemaining } }', {}, ana)).me.usageRemaining.maxDataExports).toBe(1);
      expect((await create(server, bo)).responseCode).toBe('SUCCESS');
      // Leave the queue empty for the tests after this one.
      for (const token of [ana, bo]) {
        for (const e of (await server.data('{ me { exports { items { id } } } }', {}, token)).me.exports.items) {
          await server.data('mutation($id: String!) { onExport(id: $id) { remove { responseCode } } }', { id: e.id }, token);
        }
      }
    } finally {
      await server.stop();
    }
  });

  test('maxDataExportRecords stops an export at the cap, truncated, and says so', async () => {
    const server = new TestServer(store, { MAX_DATA_EXPORT_RECORDS: '1000' });
    await server.start();
    try {
      const capped = await create(server, ana);
      const done = await waitForExport(server, ana, capped.item.id);
      expect(done.status).toMatchObject({ recordsProcessed: 1000, message: expect.stringMatching(/limit of 1000 records \(maxDataExportRecords\).*truncated/) });
      expect(done.result.truncated).toBe(true);
      const csv = await (await fetch(`${server.url}/api/v3/data/exports/${capped.item.id}`, { headers: { authorization: `Bearer ${ana}` } })).text();
      expect(parseCsv(csv)).toHaveLength(1001);
      const within = await waitForExport(server, ana, (await create(server, ana, { limit: 10 })).item.id);
      expect(within.result.truncated).toBe(false);
    } finally {
      await server.stop();
    }
  });

  test('first in, first out, but one user\'s five exports do not hold back another\'s single one; queuePosition is right', async () => {
    const server = new TestServer(store, { EXPORT_CONCURRENCY: '1' });
    await server.start();
    const ours = new Set<string>();
    const queueOf = async (token: string) =>
      ((await server.data('{ me { exports(limit: 50) { items { id requestedOn status { status queuePosition startedOn } } } } }', {}, token)).me.exports.items as any[]).filter((e) => ours.has(e.id));
    try {
      const first = await create(server, ana);
      ours.add(first.item.id);
      await waitForExport(server, ana, first.item.id, ['GENERATING']);
      const rest: string[] = [];
      for (let i = 0; i < 4; i++) rest.push((await create(server, ana)).item.id);
      const single = (await create(server, bo)).item.id;
      [...rest, single].forEach((id) => ours.add(id));
      // While ana's first export runs: bo's single export is next, then ana's in order.
      const anaQueue = await queueOf(ana);
      const boQueue = await queueOf(bo);
      const position = (id: string) => [...anaQueue, ...boQueue].find((e) => e.id === id).status.queuePosition;
      if ([...anaQueue, ...boQueue].find((e) => e.id === first.item.id).status.status === 'GENERATING') {
        expect(position(single)).toBe(1);
        expect(rest.map(position)).toEqual([2, 3, 4, 5]);
        expect(position(first.item.id)).toBeNull();
      }
      // Positions are always 1..n over what is queued, whenever we look.
      let looks = 0;
      await waitFor(async () => {
        const all = [...(await queueOf(ana)), ...(await queueOf(bo))];
        const queued = all.filter((e) => e.status.status === 'QUEUING').map((e) => e.status.queuePosition).sort((a, b) => a - b);
        expect(queued).toEqual(queued.map((_, i) => i + 1));
        looks++;
        return all.every((e) => e.status.status === 'COMPLETED');
      }, 'every export to complete', 120_000, 200);
      expect(looks).toBeGreaterThan(3);
      const all = [...(await queueOf(ana)), ...(await queueOf(bo))].sort((a, b) => a.status.startedOn - b.status.startedOn);
      expect(all.map((e) => e.id)).toEqual([first.item.id, single, ...rest]);
    } finally {
      await server.stop();
    }
  }, 240_000);
});
