import http from 'node:http';
import { scrape, Scrape } from './prometheus';
import { STORE, TestServer, TestStore, TestWorker, waitFor, waitForExport } from './harness';

const METRICS_TOKEN = 'scrape-me-0123456789abcdef';

/** A GET without Accept-Encoding unless asked (fetch always asks for gzip). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode as number, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

function delta(after: Scrape, before: Scrape, name: string, labels: Record<string, string> = {}): number {
  return after.value(name, labels) - before.value(name, labels);
}

describe(`/metrics on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let worker: TestWorker;
  let alice: { token: string; dataset: string };

  const createExport = async (name: string) =>
    (await server.data('mutation($i: CreateExportInput!) { createStream(input: $i) { responseCode item { id } } }', { i: { name, dataRange: { datasets: [alice.dataset] } } }, alice.token)).createStream.item.id as string;
  const scrapeServer = () => scrape(server.url, METRICS_TOKEN);

  beforeAll(async () => {
    await store.create();
    await store.cli(['migrate']);
    alice = await store.seededUser('alice@example.com', 300);
    // No in-process worker: exports wait in the queue until the separate worker process starts.
    server = new TestServer(store, { EXPORT_WORKERS: '0', METRICS_TOKEN });
    await server.start();
  });

  afterAll(async () => {
    await worker?.stop();
    await server?.stop();
    await store.drop();
  });

  it('asks for the metrics token when METRICS_TOKEN is set, and serves Prometheus text with it', async () => {
    const none = await fetch(`${server.url}/metrics`);
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: { status: 401, message: 'send "Authorization: Bearer <METRICS_TOKEN>"' } });
    const wrong = await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer not-the-metrics-token' } });
    expect(wrong.status).toBe(401);
    // A user's token is not the metrics token.
    const user = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(user.status).toBe(401);
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = new Scrape(await ok.text());
    expect(metrics.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metrics.family('sluice_export_duration_seconds').type).toBe('HISTOGRAM');
    expect(metrics.family('sluice_graphql_duration_seconds').type).toBe('HISTOGRAM');
    for (const name of ['sluice_exports_finished_total', 'sluice_export_records_total', 'sluice_export_bytes_total', 'sluice_downloads_total', 'sluice_download_bytes_total', 'sluice_ingest_events_total', 'sluice_webhook_deliveries_total', 'sluice_graphql_operations_total']) {
      expect(metrics.family(name).type).toBe('COUNTER');
    }
    for (const name of ['sluice_exports_generating', 'sluice_export_queue_depth', 'sluice_export_queue_oldest_age_seconds']) {
      expect(metrics.family(name).type).toBe('GAUGE');
    }
  });

  it('reads the queue from the database and counts exports in the process that ran them', async () => {
    const before = await scrapeServer();
    expect(before.value('sluice_export_queue_depth')).toBe(0);
    expect(before.value('sluice_export_queue_oldest_age_seconds')).toBe(0);
    const firstAsked = Date.now();
    const ids = [await createExport('one'), await createExport('two'), await createExport('three')];
    await new Promise((r) => setTimeout(r, 300)); // so the oldest has measurably waited
    const queued = await scrapeServer();
    expect(queued.value('sluice_export_queue_depth')).toBe(3);
    expect(queued.value('sluice_exports_generating')).toBe(0);
    expect(queued.value('sluice_export_queue_oldest_age_seconds')).toBeGreaterThanOrEqual(0.25);
    expect(queued.value('sluice_export_queue_oldest_age_seconds')).toBeLessThanOrEqual((Date.now() - firstAsked) / 1000 + 0.5);

    const cancel = await server.data('mutation($id: String!) { onExport(id: $id) { cancel { responseCode } } }', { id: ids[2] }, alice.token);
    expect(cancel.onExport.cancel.responseCode).toBe('SUCCESS');
    const cancelled = await scrapeServer();
    expect(delta(cancelled, before, 'sluice_exports_finished_total', { status: 'CANCELLED', format: 'CSV' })).toBe(1);
    expect(cancelled.value('sluice_export_queue_depth')).toBe(2);

    worker = new TestWorker(store, { METRICS_PORT: '0', METRICS_TOKEN });
    await worker.start();
    const port = await waitForWorkerMetrics(worker);
    const workerUrl = `http://127.0.0.1:${port}`;
    const done = [await waitForExport(server, alice.token, ids[0]), await waitForExport(server, alice.token, ids[1])];

    const fromWorker = await scrape(workerUrl, METRICS_TOKEN);
    expect(fromWorker.value('sluice_exports_finished_total', { status: 'COMPLETED', format: 'CSV' })).toBe(2);
    expect(fromWorker.value('sluice_exports_finished_total', { status: 'FAILED' })).toBe(0);
    expect(fromWorker.value('sluice_export_records_total')).toBe(600);
    expect(fromWorker.value('sluice_export_bytes_total')).toBe(done[0].result.compressedSizeInBytes + done[1].result.compressedSizeInBytes);
    expect(fromWorker.count('sluice_export_duration_seconds')).toBe(2);
    // Fleet-wide gauges read the same on every process; counters belong to the process that did the work.
    const after = await scrapeServer();
    expect(after.value('sluice_export_queue_depth')).toBe(0);
    expect(after.value('sluice_exports_generating')).toBe(0);
    expect(fromWorker.value('sluice_export_queue_depth')).toBe(0);
    expect(delta(after, before, 'sluice_exports_finished_total', { status: 'COMPLETED' })).toBe(0);
    expect(delta(after, before, 'sluice_export_records_total')).toBe(0);
  });

  it('serves /metrics on a worker with METRICS_PORT, with the same token, and nothing else', async () => {
    const port = await waitForWorkerMetrics(worker);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(401);
    const other = await fetch(`http://127.0.0.1:${port}/graphql`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { message: string } }).error.message).toMatch(/serves \/metrics only/);
    const metrics = await scrape(`http://127.0.0.1:${port}`, METRICS_TOKEN);
    expect(metrics.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(metrics.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('counts downloads by status with the bytes sent, ingested events, and GraphQL operations by type and outcome', async () => {
    const exports = (await server.data('{ me { exports { items { id name status { status } result { sizeInBytes compressedSizeInBytes } } } } }', {}, alice.token)).me.exports.items as {
      id: string; name: string; status: { status: string }; result: { sizeInBytes: number; compressedSizeInBytes: number } | null;
    }[];
    const [one, two] = ['one', 'two'].map((n) => exports.find((e) => e.name === n)!);
    const link = (await server.data('mutation($id: String!) { onExport(id: $id) { createDownloadLink { link } } }', { id: one.id }, alice.token)).onExport.createDownloadLink.link as string;
    const before = await scrapeServer();

    const auth = { authorization: `Bearer ${alice.token}` };
    const gz = await get(`${server.url}/api/v3/data/exports/${one.id}`, { ...auth, 'accept-encoding': 'gzip' });
    expect(gz.body.length).toBe(one.result!.compressedSizeInBytes);
    const plain = await get(`${server.url}/api/v3/data/exports/${two.id}`, auth);
    expect(plain.body.length).toBe(two.result!.sizeInBytes);
    const viaLink = await get(`${server.url}${link}`);
    expect([gz.status, plain.status, viaLink.status]).toEqual([200, 200, 200]);
    expect((await get(`${server.url}/api/v3/data/exports/no-such-export`, auth)).status).toBe(404);
    expect((await get(`${server.url}/api/v3/data/exports/${one.id}`)).status).toBe(401);

    const ingest = (body: unknown) =>
      fetch(`${server.url}/api/v3/data/ingest/${alice.dataset}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const events = Array.from({ length: 7 }, (_, i) => ({ timestamp: 1_800_000_000_000 + i, metric: 'temp::number', value: i }));
    expect((await ingest(events)).status).toBe(204);
    expect((await ingest([...events, { metric: 'temp::number', value: 'not a number' }])).status).toBe(400);

    await server.data('query Me { me { id } }', {}, alice.token);
    await server.data('query Me { me { id } }', {}, alice.token);
    const missing = await server.gql('query Missing { me { export(id: "no-such-export") { id } } }', {}, alice.token);
    expect(missing.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    await server.data('mutation Rename($id: String!) { onExport(id: $id) { cancel { responseCode } } }', { id: one.id }, alice.token);
    const after = await scrapeServer();

    expect(delta(after, before, 'sluice_downloads_total', { status: '200' })).toBe(3);
    expect(delta(after, before, 'sluice_downloads_total', { status: '404' })).toBe(1);
    expect(delta(after, before, 'sluice_downloads_total', { status: '401' })).toBe(1);
    expect(delta(after, before, 'sluice_download_bytes_total')).toBe(one.result!.compressedSizeInBytes + two.result!.sizeInBytes + viaLink.body.length);
    expect(viaLink.body.length).toBe(one.result!.sizeInBytes);
    expect(delta(after, before, 'sluice_ingest_events_total')).toBe(7);
    expect(delta(after, before, 'sluice_graphql_operations_total', { type: 'query', outcome: 'success' })).toBe(2);
    expect(delta(after, before, 'sluice_graphql_operations_total', { type: 'query', outcome: 'error' })).toBe(1);
    expect(delta(after, before, 'sluice_graphql_operations_total', { type: 'mutation', outcome: 'success' })).toBe(1);
    expect(after.count('sluice_graphql_duration_seconds') - before.count('sluice_graphql_duration_seconds')).toBe(4);
  });

  it('refuses bad metrics settings with one line naming the variable, and lists them in --help', async () => {
    const port = await store.cliFails(['worker'], { METRICS_PORT: 'ninety' });
    expect(port.code).toBe(1);
    expect(port.stderr.trim()).toBe('sluice: METRICS_PORT="ninety" is not valid: expected a TCP port number (0-65535; 0 picks a free one)');
    const token = await store.cliFails(['serve'], { METRICS_TOKEN: 'short' });
    expect(token.code).toBe(1);
    expect(token.stderr.trim()).toMatch(/^sluice: METRICS_TOKEN="short" is not valid: expected a token without spaces/);
    const help = await store.cliFails(['--help']);
    expect(help.stdout).toMatch(/METRICS_TOKEN\s+\(unset\)/);
    expect(help.stdout).toMatch(/METRICS_PORT\s+\(unset\)/);
  });
});

/** The port a worker's /metrics listens on, from its log line. */
function waitForWorkerMetrics(worker: TestWorker): Promise<number> {
  return waitFor(async () => {
    const line = worker.lines(/worker metrics listening/)[0];
    return line ? Number(line.port) : undefined;
  }, 'the worker to say where its metrics are', 30_000, 50);
}
