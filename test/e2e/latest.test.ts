import crypto from 'node:crypto';
import { parseCsv, STORE, TestServer, TestStore, TestWorker, waitForExport } from './harness';

/**
 * `latest: true` (one row per dataset, source and metric: its newest event) and `order: DESC`, checked
 * against what the test computes from the events it ingested: replacements, events after the request
 * (the snapshot), filters, several datasets, missing sources, limits and truncation.
 */

const US = 1_000;
/** 2025-01-01T00:00:00Z in µs: every timestamp below is T + a few seconds. */
const T = Date.UTC(2025, 0, 1) * US;
const s = (seconds: number) => T + seconds * 1_000_000;

interface Event {
  timestamp: number;
  metric: string;
  value: unknown;
  source?: string;
  producer?: { userId: string; clientId: string };
}

interface Stored extends Event {
  dataset: string;
  /** When this identity was first written (the row's place in the stable order), and last written. */
  first: number;
  last: number;
}

function valueCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

const csvRow = (e: Stored) => [String(e.timestamp), e.dataset, e.metric, e.source ?? '', valueCell(e.value)];

/** Datasets by number, then sources with the missing one first, then metrics (all strings here compare the same by code unit and by byte). */
function seriesCompare(a: Stored, b: Stored): number {
  if (a.dataset !== b.dataset) return Number(a.dataset) - Number(b.dataset);
  if ((a.source ?? null) !== (b.source ?? null)) {
    if (a.source === undefined) return -1;
    if (b.source === undefined) return 1;
    return (a.source as string) < (b.source as string) ? -1 : 1;
  }
  return a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0;
}

/** The store as the test wrote it: one event per identity, the last write winning. */
class Model {
  private writes = 0;
  private readonly byIdentity = new Map<string, Stored>();

  write(dataset: string, events: Event[]): void {
    for (const e of events) {
      const id = JSON.stringify([dataset, e.timestamp, e.metric, e.source ?? null, e.producer?.userId ?? null, e.producer?.clientId ?? null]);
      const before = this.byIdentity.get(id);
      const seq = this.writes++;
      this.byIdentity.set(id, { ...e, dataset, first: before?.first ?? seq, last: seq });
    }
  }

  /** A mark between writes: what an export asked for now may hold. */
  mark(): number {
    return this.writes;
  }

  /** What an export asked for at `mark` holds: events last written before it (one replaced after it is left out). */
  snapshot(mark = Infinity): Stored[] {
    return [...this.byIdentity.values()].filter((e) => e.last < mark);
  }
}

/** The newest event of each series, in series order. */
function latestOf(events: Stored[]): Stored[] {
  const newest = new Map<string, Stored>();
  for (const e of events) {
    const key = JSON.stringify([e.dataset, e.source ?? null, e.metric]);
    const seen = newest.get(key);
    if (!seen || e.timestamp > seen.timestamp || (e.timestamp === seen.timestamp && e.first > seen.first)) newest.set(key, e);
  }
  return [...newest.values()].sort(seriesCompare);
}

/** Timestamp order with the stable tie-break (first write), as an ordinary export has it. */
const byTime = (a: Stored, b: Stored) => a.timestamp - b.timestamp || a.first - b.first;

describe(`latest values and newest-first exports on ${STORE}`, () => {
  const store = new TestStore();
  const model = new Model();
  let server: TestServer;
  let token: string;
  let d1: string;
  let d2: string;
  let d3: string;

  const ingest = async (srv: TestServer, dataset: string, events: Event[]) => {
    const res = await fetch(`${srv.url}/api/v3/data/ingest/${dataset}?timestampPrecision=MICROSECONDS`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(events),
    });
    expect(res.status).toBe(204);
    model.write(dataset, events);
  };

  const create = async (srv: TestServer, input: Record<string, unknown>) => {
    const d = await srv.data('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message item { id latest order } } }', { i: input }, token);
    if (d.createExport.responseCode !== 'SUCCESS') throw new Error(`${d.createExport.responseCode}: ${d.createExport.message}`);
    return d.createExport.item as { id: string; latest: boolean; order: string };
  };

  const finish = async (srv: TestServer, id: string) => {
    const done = await waitForExport(srv, token, id);
    const res = await fetch(`${srv.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(crypto.createHash('sha256').update(bytes).digest('hex')).toBe(done.result.sha256);
    return { done, bytes, rows: parseCsv(bytes.toString('utf8')) };
  };

  const run = async (input: Record<string, unknown>, srv = server) => finish(srv, (await create(srv, { timestampPrecision: 'MICROSECONDS', ...input })).id);

  const north = { source: 'north' };
  beforeAll(async () => {
    await store.create();
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    d1 = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'd1', '--owner', 'ana@example.com'])).id;
    d2 = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'd2', '--owner', 'ana@example.com'])).id;
    d3 = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'd3', '--owner', 'ana@example.com'])).id;
    server = new TestServer(store);
    await server.start();
    // Newest not last in the request, a missing source, a tie broken by the later event (two producers),
    // sources that sort differently by case and beyond ASCII.
    await ingest(server, d1, [
      { timestamp: s(5), metric: 'temp::number', value: 20.5, ...north },
      { timestamp: s(9), metric: 'temp::number', value: 22, ...north },
      { timestamp: s(7), metric: 'temp::number', value: 21, ...north },
      { timestamp: s(3), metric: 'status::string', value: 'ok', ...north },
      { timestamp: s(8), metric: 'status::string', value: 'degraded, "hot"', ...north },
      { timestamp: s(4), metric: 'temp::number', value: 18 },
      { timestamp: s(6), metric: 'temp::number', value: 19 },
      { timestamp: s(6), metric: 'reading::json', value: { battery: 80 } },
      { timestamp: s(2), metric: 'temp::number', value: 15, source: 'Zed' },
      { timestamp: s(10), metric: 'temp::number', value: 16, source: 'Zed', producer: { userId: 'u1', clientId: 'a' } },
      { timestamp: s(10), metric: 'temp::number', value: 17, source: 'Zed', producer: { userId: 'u1', clientId: 'b' } },
      { timestamp: s(1), metric: 'status::string', value: 'froid', source: 'été' },
      { timestamp: s(11), metric: 'temp::number', value: -3.25, source: 'été' },
      { timestamp: s(3), metric: 'temp::number', value: 30, source: 'south' },
      { timestamp: s(12), metric: 'temp::number', value: 31, source: 'south' },
    ]);
    await ingest(server, d2, [
      { timestamp: s(4), metric: 'temp::number', value: 10, ...north },
      { timestamp: s(13), metric: 'temp::number', value: 11, ...north },
      { timestamp: s(5), metric: 'status::string', value: 'fine' },
    ]);
    await ingest(server, d3, [{ timestamp: s(20), metric: 'temp::number', value: 99, ...north }]);
    // Re-posting an identity replaces it: south's newest value changes, and an older north value too.
    await ingest(server, d1, [
      { timestamp: s(12), metric: 'temp::number', value: 32.5, source: 'south' },
      { timestamp: s(5), metric: 'temp::number', value: 20.75, ...north },
    ]);
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  const both = () => ({ dataRange: { datasets: [d1, d2] } });
  const inBoth = (e: Stored) => e.dataset === d1 || e.dataset === d2;

  test('latest: one row per dataset, source and metric, newest event of each, in series order; estimate, sha256, flags', async () => {
    const expected = latestOf(model.snapshot().filter(inBoth));
    const { done, rows } = await run({ ...both(), latest: true });
    expect(rows[0]).toEqual(['timestamp', 'dataset', 'metric', 'source', 'value']);
    expect(rows.slice(1)).toEqual(expected.map(csvRow));
    // Spot checks of what the model says, so a wrong model cannot pass unnoticed.
    expect(rows.slice(1).find((r) => r[1] === d1 && r[3] === 'south')?.[4]).toBe('32.5');
    expect(rows.slice(1).find((r) => r[1] === d1 && r[3] === 'Zed')?.[4]).toBe('17');
    expect(rows[1].slice(1, 4)).toEqual([d1, 'reading::json', '']);
    expect(done.status).toMatchObject({ status: 'COMPLETED', recordsProcessed: expected.length, recordsEstimate: expected.length });
    expect(done.result.truncated).toBe(false);
    const item = (await server.data('query($id: String!) { me { export(id: $id) { latest order } } }', { id: done.id }, token)).me.export;
    expect(item).toEqual({ latest: true, order: 'ASC' });
    const estimate = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { ...both(), latest: true } }, token);
    expect(estimate.estimateExport.records).toBe(expected.length);
  });

  test('latest within a range, metric selectors and a filter: the newest event that passes all of them', async () => {
    const from = s(3) / US;
    const to = s(11) / US;
    const inRange = (e: Stored) => inBoth(e) && e.timestamp >= from * US && e.timestamp < to * US;
    const events = model.snapshot().filter(inRange);

    const ranged = await run({ ...both(), latest: true, from, to, dataRange: { datasets: [d1, d2], metrics: ['*::number', 'status::string'] } });
    expect(ranged.rows.slice(1)).toEqual(latestOf(events.filter((e) => e.metric !== 'reading::json')).map(csvRow));
    expect(ranged.rows.slice(1).find((r) => r[1] === d1 && r[3] === 'north' && r[2] === 'temp::number')?.[4]).toBe('22');

    // A value filter rules out the newest events of some series: older ones stand in, series with none drop out.
    const cool = await run({ ...both(), latest: true, filter: { value: { _lt: 21 } } });
    const coolExpected = latestOf(model.snapshot().filter((e) => inBoth(e) && typeof e.value === 'number' && e.value < 21));
    expect(cool.rows.slice(1)).toEqual(coolExpected.map(csvRow));
    expect(cool.rows.slice(1).find((r) => r[1] === d1 && r[3] === 'north')?.[4]).toBe('20.75');

    // Filters on the series themselves (source, dataset, metric), alone and mixed with event fields.
    const filter = { _or: [{ source: { _in: ['north', 'Zed'] } }, { source: { _exists: false } }], dataset: { _neq: d2 }, timestamp: { _lt: s(10) / US } };
    const some = await run({ ...both(), latest: true, filter });
    const someExpected = latestOf(model.snapshot().filter((e) => inBoth(e) && (e.source === undefined || ['north', 'Zed'].includes(e.source)) && e.dataset !== d2 && e.timestamp < s(10)));
    expect(some.rows.slice(1)).toEqual(someExpected.map(csvRow));
    expect(someExpected.length).toBeGreaterThan(2);
  });

  test('latest with limit keeps the first series in order; the record cap truncates and says so', async () => {
    const expected = latestOf(model.snapshot().filter(inBoth));
    const limited = await run({ ...both(), latest: true, limit: 3 });
    expect(limited.rows.slice(1)).toEqual(expected.slice(0, 3).map(csvRow));
    expect(limited.done.result.truncated).toBe(false);
    expect(limited.done.status.recordsEstimate).toBe(3);

    const capped = new TestServer(store, { MAX_DATA_EXPORT_RECORDS: '4' });
    await capped.start();
    try {
      const { done, rows } = await run({ ...both(), latest: true }, capped);
      expect(rows.slice(1)).toEqual(expected.slice(0, 4).map(csvRow));
      expect(done.result.truncated).toBe(true);
      expect(done.status.message).toMatch(/limit of 4 records \(maxDataExportRecords\).*truncated/);
    } finally {
      await capped.stop();
    }
  });

  test('order: DESC is the ASC export reversed (tie-break too); limit keeps the newest; re-runs are byte-identical', async () => {
    const asc = await run({ ...both(), fields: ['timestamp', 'dataset', 'metric', 'source', 'value', 'producer'] });
    const desc = await run({ ...both(), fields: ['timestamp', 'dataset', 'metric', 'source', 'value', 'producer'], order: 'DESC' });
    const expected = model.snapshot().filter(inBoth).sort(byTime).reverse();
    expect(desc.rows.slice(1).map((r) => r.slice(0, 5))).toEqual(expected.map(csvRow));
    expect(desc.rows.slice(1)).toEqual(asc.rows.slice(1).reverse());
    // The two producers' events at the same time come in reverse insertion order.
    const tie = desc.rows.slice(1).filter((r) => r[3] === 'Zed' && r[0] === String(s(10)));
    expect(tie.map((r) => r[4])).toEqual(['17', '16']);

    const newest = await run({ ...both(), order: 'DESC', limit: 4 });
    expect(newest.rows.slice(1)).toEqual(expected.slice(0, 4).map(csvRow));
    expect(newest.done.result.truncated).toBe(false);
    const item = (await server.data('query($id: String!) { me { export(id: $id) { latest order } } }', { id: newest.done.id }, token)).me.export;
    expect(item).toEqual({ latest: false, order: 'DESC' });

    const again = await run({ ...both(), order: 'DESC', limit: 4 });
    expect(again.bytes.equals(newest.bytes)).toBe(true);
    expect(again.done.result.sha256).toBe(newest.done.result.sha256);
    const latestTwice = [await run({ ...both(), latest: true }), await run({ ...both(), latest: true })];
    expect(latestTwice[1].bytes.equals(latestTwice[0].bytes)).toBe(true);
    expect(latestTwice[1].done.result.sha256).toBe(latestTwice[0].done.result.sha256);
  });

  test('latest with order: DESC is refused, naming both', async () => {
    const d = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message } }', { i: { ...both(), latest: true, order: 'DESC' } }, token);
    expect(d.createExport.responseCode).toBe('BAD_REQUEST');
    expect(d.createExport.message).toMatch(/order: DESC does not apply with latest: true/);
  });

  test('the snapshot: events posted or replaced after the request are not in latest or DESC exports', async () => {
    const queued = new TestServer(store, { EXPORT_WORKERS: '0' });
    await queued.start();
    const worker = new TestWorker(store);
    try {
      const mark = model.mark();
      const latest = await create(queued, { ...both(), latest: true, timestampPrecision: 'MICROSECONDS' });
      const desc = await create(queued, { ...both(), order: 'DESC', timestampPrecision: 'MICROSECONDS' });
      // After the request: a newer north reading, a replacement of Zed's newest event, a new series.
      await ingest(queued, d1, [
        { timestamp: s(30), metric: 'temp::number', value: 40, ...north },
        { timestamp: s(10), metric: 'temp::number', value: 99, source: 'Zed', producer: { userId: 'u1', clientId: 'b' } },
        { timestamp: s(31), metric: 'temp::number', value: 41, source: 'west' },
      ]);
      await worker.start();
      const seen = model.snapshot(mark).filter(inBoth);
      const latestRows = (await finish(queued, latest.id)).rows.slice(1);
      expect(latestRows).toEqual(latestOf(seen).map(csvRow));
      // Zed's replaced newest event is left out, so its other event at the same time stands.
      expect(latestRows.find((r) => r[3] === 'Zed')?.[4]).toBe('16');
      expect(latestRows.some((r) => r[3] === 'west' || r[4] === '40')).toBe(false);
      expect((await finish(queued, desc.id)).rows.slice(1)).toEqual(seen.sort(byTime).reverse().map(csvRow));

      // A new export sees them.
      const now = await run({ ...both(), latest: true }, queued);
      expect(now.rows.slice(1)).toEqual(latestOf(model.snapshot().filter(inBoth)).map(csvRow));
      expect(now.rows.slice(1).find((r) => r[3] === 'west')?.[4]).toBe('41');
    } finally {
      await worker.stop();
      await queued.stop();
    }
  });
});
