import { spawn } from 'node:child_process';
import os from 'node:os';
import { profiling, stallLimitMs } from '../security/support';
import { STORE, TestServer, TestStore, waitFor } from './harness';

/** Sends {me{id}} every 200 ms until stdin closes, then prints each answer's delay (ms) as JSON. */
const PROBER = `
const [url, token] = process.argv.slice(1);
const delays = [];
const pending = [];
const probe = async () => {
  const sent = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: '{"query":"{ me { id } }"}' });
  const body = await res.json();
  if (!body.data || !body.data.me.id) throw new Error('bad answer ' + JSON.stringify(body));
  delays.push(performance.now() - sent);
};
const timer = setInterval(() => pending.push(probe()), 200);
process.stdout.write('ready\\n');
process.stdin.resume();
process.stdin.on('end', async () => { clearInterval(timer); await Promise.all(pending); process.stdout.write(JSON.stringify(delays)); process.exit(0); });
`;

/**
 * One 10 MB ingest of 50 000 distinct metrics must not stall the server for anyone else: another user's
 * `{me{id}}`, sent every 200 ms while it runs, is answered within 200 ms each time. (It stalled 3.7 s on
 * SQLite with an upsert per metric on the event loop.)
 */
describe(`a large ingest does not stall the server, on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;

  beforeAll(async () => {
    await store.create();
    server = new TestServer(store, { EXPORT_WORKERS: '0', ...profiling() });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  let worstMs = Infinity;
  let limitMs = 0;
  let id: string;
  let writer: string;
  let events: Record<string, unknown>[];

  test('10 MB, 50 000 distinct metrics: stored whole while another user\'s {me{id}} keeps being answered', async () => {
    ({ token: writer } = await store.cli<{ token: string }>(['user', 'create', '--email', 'writer@example.com']));
    const { token: reader } = await store.cli<{ token: string }>(['user', 'create', '--email', 'reader@example.com']);
    ({ id } = await store.cli<{ id: string }>(['dataset', 'create', '--name', 'wide', '--owner', 'writer@example.com']));
    events = Array.from({ length: 50_000 }, (_, i) => ({
      timestamp: 1_700_000_000_000 + i, metric: `machine_${String(i).padStart(5, '0')}_spindle_temperature_celsius::number`, value: i / 7,
      source: `line-${i % 40}/cell-${i % 13}/station-${i % 97}`, tags: ['factory-north', 'calibrated', `shift-${i % 3}`], location: { lat: 48.85 + (i % 100) / 1000, lng: 2.35 },
      elevation: 35, producer: { userId: 'plc-gateway', clientId: `client-${i % 17}` },
    }));
    const body = JSON.stringify(events);
    expect(body.length).toBeGreaterThan(9.5 * 1024 * 1024);
    expect(body.length).toBeLessThan(16 * 1024 * 1024);

    // The probing user is a process of its own, so this test process (busy sending 10 MB) cannot delay it.
    const prober = spawn(process.execPath, ['-e', PROBER, `${server.url}/graphql`, reader], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    prober.stdout.on('data', (d) => (out += d));
    await waitFor(async () => out.includes('ready'), 'the prober to start');
    const started = performance.now();
    const res = await fetch(`${server.url}/api/v3/data/ingest/${id}`, { method: 'POST', headers: { authorization: `Bearer ${writer}` }, body });
    const took = performance.now() - started;
    expect(res.status).toBe(204);
    await new Promise((r) => setTimeout(r, 400)); // two more probes after the answer
    prober.stdin.end();
    await new Promise((r) => prober.once('exit', r));
    const delays = JSON.parse(out.slice(out.indexOf('['))) as number[];
    // The probes ran all through the ingest (a stalled server also delays the ones not yet answered).
    expect(delays.length).toBeGreaterThanOrEqual(Math.min(5, Math.floor(took / 200)));
    process.stdout.write(`ingest of 50 000 events: ${Math.round(took)} ms; ${delays.length} probes, worst ${Math.round(Math.max(...delays))} ms, load ${os.loadavg()[0].toFixed(2)}\n`);
    worstMs = Math.max(...delays);
    limitMs = stallLimitMs();
    // Far below the 3.7 s the probe found before ingest left the event loop; the next test holds it to the bar.
    expect(worstMs).toBeLessThan(2_000);

    const metrics = await server.data(`{ dataset(id: "${id}") { id metrics { id lastUpdate } } me { datasets { count } } }`, {}, writer);
    expect(metrics.me.datasets.count).toBe(1);
    expect(metrics.dataset.metrics).toHaveLength(50_000);
    expect(metrics.dataset.metrics[7]).toEqual({ id: 'machine_00007_spindle_temperature_celsius::number', lastUpdate: 1_700_000_000_007 });
    const estimate = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: id } } }, writer);
    expect(estimate.estimateExport.records).toBe(50_000);
  });

  test('sent again in part, the replaced events add nothing to the counts, the new ones do', async () => {
    // Half the events again (their identities are stored: they replace) and 1 000 new ones, through the thread.
    const resent = [...events.slice(0, 25_000), ...events.slice(0, 1000).map((e) => ({ ...e, timestamp: (e.timestamp as number) + 3_600_000 }))];
    expect(JSON.stringify(resent).length).toBeGreaterThan(64 * 1024);
    const res2 = await fetch(`${server.url}/api/v3/data/ingest/${id}`, { method: 'POST', headers: { authorization: `Bearer ${writer}` }, body: JSON.stringify(resent) });
    expect(res2.status).toBe(204);
    const after = await server.data(`query($i: CreateExportInput!) { estimateExport(input: $i) { records } dataset(id: "${id}") { metrics { id lastUpdate } } }`, { i: { dataRange: { datasets: id } } }, writer);
    expect(after.estimateExport.records).toBe(51_000);
    expect(after.dataset.metrics).toHaveLength(50_000);
    expect(after.dataset.metrics[7].lastUpdate).toBe(1_700_000_000_007 + 3_600_000);
    expect(after.dataset.metrics[1007].lastUpdate).toBe(1_700_000_001_007);
  });

  // Issue 10's bar, scaled by the load per core as the security probes scale it. Its rows, counts and
  // metric totals are worked out in the ingest thread; what is left on the loop is batches with turns
  // between them (and on SQLite the commit and its WAL checkpoint, about 100 ms).
  test('that {me{id}} is answered within 200 ms throughout', () => {
    expect(worstMs).toBeLessThan(limitMs);
  });
});
