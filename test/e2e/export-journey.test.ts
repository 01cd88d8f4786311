import http from 'node:http';
import zlib from 'node:zlib';
import { EXPORT_STATUS_QUERY, parseCsv, rawRequest, STORE, TestServer, TestStore, waitForExport } from './harness';

const T0 = 1_700_000_000_000;
/** Events that stress every cell format: missing values, commas, quotes, newlines, unicode, JSON. */
const EVENTS = [
  { timestamp: T0, metric: 'temperature::number', value: 21.5, source: 'sensor-1', tags: ['indoor', 'a,b'], location: { lat: 48.8566, lng: 2.3522 }, elevation: 35, producer: { userId: 'u1', clientId: 'c1' } },
  { timestamp: T0 + 1, metric: 'temperature::number', value: 0.1 + 0.2, source: 'sensor-1' },
  { timestamp: T0 + 2, metric: 'temperature::number', value: -1e21 },
  { timestamp: T0 + 3, metric: 'status::string', value: 'ok, "quoted" and\nnew line\r\nCRLF', source: 'sensor "two"' },
  { timestamp: T0 + 4, metric: 'status::string', value: 'température 🌡️ 東京', source: 'capteur-é' },
  { timestamp: T0 + 5, metric: 'status::string', value: '=SUM(A1:A2)' },
  { timestamp: T0 + 6, metric: 'door_open::bool', value: true },
  { timestamp: T0 + 7, metric: 'door_open::bool', value: false },
  { timestamp: T0 + 8, metric: 'reading::json', value: { a: { b: [1, 2.5, null] }, s: 'x,"y"' } },
  { timestamp: T0 + 9, metric: 'reading::json', value: [1, 'two', true] },
  { timestamp: T0 + 10, metric: 'temperature::number', value: null, source: null },
  { timestamp: T0 + 10, metric: 'temperature::number', value: 3, source: 'sensor-2' },
  { timestamp: T0 + 11, metric: 'status::string', value: '' },
];

function expectedValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

const ALL_FIELDS = ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'];

describe(`the export journey on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  let datasetId: string;

  const ingest = (dataset: string, body: unknown, token: string, raw?: string) =>
    fetch(`${server.url}/api/v3/data/ingest/${dataset}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: raw ?? JSON.stringify(body),
    });

  const createStream = (input: Record<string, unknown>, token: string) =>
    server.data(
      `mutation CreateStream($input: CreateExportInput!) { createStream(input: $input) { responseCode message item { id } } }`,
      { input },
      token,
    ).then((d) => d.createStream as { responseCode: string; message: string | null; item: { id: string } | null });

  const exportCount = async (token: string) => (await server.data('{ me { exports { count } } }', {}, token)).me.exports.count as number;
  const recordCount = async (token: string) =>
    (await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: [datasetId] } } }, token)).estimateExport.records as number;

  beforeAll(async () => {
    await store.create();
    await store.cli(['migrate']);
    alice = await store.cli(['user', 'create', '--email', 'alice@example.com']);
    bob = await store.cli(['user', 'create', '--email', 'bob@example.com']);
    datasetId = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'sensors', '--owner', 'alice@example.com'])).id;
    server = new TestServer(store, { INGEST_MAX_BYTES: '256kb' });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('ingest, createStream as the guide writes it, poll, download with curl: every row and cell as ingested', async () => {
    const res = await ingest(datasetId, EVENTS, alice.token);
    expect(res.status).toBe(204);

    const created = await createStream({ dataRange: { datasets: datasetId } }, alice.token);
    expect(created).toMatchObject({ responseCode: 'SUCCESS', message: null });
    const id = created.item!.id;

    const done = await waitForExport(server, alice.token, id);
    expect(done.status).toMatchObject({ status: 'COMPLETED', recordsEstimate: EVENTS.length, recordsProcessed: EVENTS.length });
    expect(done.requestedOn).toBeGreaterThan(Date.now() - 120_000);
    expect(done.result.completedOn).toBeGreaterThanOrEqual(done.requestedOn);
    expect(done.result.compressedSizeInBytes).toBeGreaterThan(0);

    // curl: no Accept-Encoding, so the server decompresses on the fly.
    const plain = await rawRequest(`${server.url}/api/v3/data/exports/${id}`, { authorization: `Bearer ${alice.token}` });
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(plain.headers['content-disposition']).toContain(`filename="${id}.csv"`);
    expect(plain.headers['content-encoding']).toBeUndefined();
    const text = plain.body.toString('utf8');
    expect(plain.body.length).toBe(done.result.sizeInBytes);
    expect(require('node:crypto').createHash('sha256').update(plain.body).digest('hex')).toBe(done.result.sha256);

    const rows = parseCsv(text);
    expect(rows[0]).toEqual(['timestamp', 'dataset', 'metric', 'source', 'value']);
    expect(rows.slice(1)).toEqual(EVENTS.map((e) => [String(e.timestamp), datasetId, e.metric, e.source ?? '', expectedValue(e.value)]));

    // Accepting gzip: the stored bytes as they are.
    const gz = await rawRequest(`${server.url}/api/v3/data/exports/${id}`, { authorization: `Bearer ${alice.token}`, 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.body.length).toBe(done.result.compressedSizeInBytes);
    expect(zlib.gunzipSync(gz.body).toString('utf8')).toBe(text);

    const head = await rawRequest(`${server.url}/api/v3/data/exports/${id}`, { authorization: `Bearer ${alice.token}` }, 'HEAD');
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(done.result.sizeInBytes);
    expect(head.body.length).toBe(0);
  });

  test('every field, in the order asked, on the other GraphQL path', async () => {
    const fields = [...ALL_FIELDS].reverse();
    const { body } = await server.gql(
      `mutation($input: CreateExportInput!) { createExport(input: $input) { responseCode message item { id fields } } }`,
      { input: { name: 'all fields', dataRange: { datasets: [datasetId] }, fields, timestampPrecision: 'MICROSECONDS', to: T0 + 1 } },
      alice.token,
      '/api/v3/catalog/graphql',
    );
    expect(body.data.createExport).toMatchObject({ responseCode: 'SUCCESS', item: { fields } });
    const id = body.data.createExport.item.id;
    await waitForExport(server, alice.token, id);
    const res = await fetch(`${server.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(res.headers.get('content-disposition')).toContain('filename="all fields.csv"');
    const rows = parseCsv(await res.text());
    expect(rows).toHaveLength(2);
    const cells = Object.fromEntries(fields.map((f, i) => [f, rows[1][i]]));
    expect(rows[0]).toEqual(fields);
    expect(cells).toMatchObject({
      timestamp: String(T0 * 1000), dataset: datasetId, metric: 'temperature::number', producer: '{"userId":"u1","clientId":"c1"}',
      source: 'sensor-1', value: '21.5', tags: '["indoor","a,b"]', location: '{"lat":48.8566,"lng":2.3522}', geohash: 'u09tvw0f6', elevation: '35',
    });
    expect(Number(cells.tsReceived)).toBeGreaterThan((Date.now() - 600_000) * 1000);
  });

  test('another user gets NOT_FOUND and 404 for everything of the first user', async () => {
    const created = await createStream({ dataRange: { datasets: [datasetId] } }, alice.token);
    const id = created.item!.id;
    await waitForExport(server, alice.token, id);

    const read = await server.gql(EXPORT_STATUS_QUERY, { id }, bob.token);
    expect(read.body.data?.me.export ?? null).toBeNull();
    expect(read.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    const dataset = await server.gql(`query($id: String!) { dataset(id: $id) { id name } }`, { id: datasetId }, bob.token);
    expect(dataset.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    for (const action of ['cancel', 'remove', 'createDownloadLink']) {
      const { body } = await server.gql(`mutation($id: String!) { onExport(id: $id) { ${action} { responseCode message } } }`, { id }, bob.token);
      expect(body.data.onExport[action]).toEqual({ responseCode: 'NOT_FOUND', message: `export ${id} not found` });
    }
    const list = await server.data('{ me { exports { count items { id } } datasets { count } } }', {}, bob.token);
    expect(list.me).toEqual({ exports: { count: 0, items: [] }, datasets: { count: 0 } });
    const download = await rawRequest(`${server.url}/api/v3/data/exports/${id}`, { authorization: `Bearer ${bob.token}` });
    expect(download.status).toBe(404);
    expect(JSON.parse(download.body.toString())).toEqual({ error: { status: 404, message: `export ${id} not found` } });
    const export2 = await createStream({ dataRange: { datasets: [datasetId] } }, bob.token);
    expect(export2).toEqual({ responseCode: 'NOT_FOUND', message: `dataset ${datasetId} not found or not readable`, item: null });
    const res = await ingest(datasetId, [{ metric: 'x::number', value: 1 }], bob.token);
    expect(res.status).toBe(404);
    // Still there for its owner.
    expect((await server.data(EXPORT_STATUS_QUERY, { id }, alice.token)).me.export.status.status).toBe('COMPLETED');
  });

  test('missing or bad tokens: 401 with a reason, on GraphQL and REST', async () => {
    const none = await server.gql('{ me { id } }');
    expect(none.status).toBe(401);
    expect(none.body.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    expect(none.body.errors?.[0].message).toMatch(/Authorization/);
    const bad = await server.gql('{ me { id } }', {}, 'slc_not-a-token');
    expect(bad.status).toBe(401);
    expect(bad.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    const rest = await rawRequest(`${server.url}/api/v3/data/exports/whatever`, { authorization: 'Bearer nope' });
    expect(rest.status).toBe(401);
    expect(JSON.parse(rest.body.toString()).error).toMatchObject({ status: 401, message: expect.stringMatching(/token is not valid/) });
    const ingestNoToken = await fetch(`${server.url}/api/v3/data/ingest/${datasetId}`, { method: 'POST', body: '[]' });
    expect(ingestNoToken.status).toBe(401);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  test('bad export requests: a clear envelope error each, and nothing stored', async () => {
    const before = await exportCount(alice.token);
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ dataRange: { datasets: ['999999'] } }, 'NOT_FOUND', /dataset 999999 not found or not readable/],
      [{ dataRange: { datasets: [] } }, 'BAD_REQUEST', /at least one dataset/],
      [{ dataRange: { datasets: [datasetId] }, from: T0 + 10, to: T0 }, 'BAD_REQUEST', /from \(\d+\) must be before to \(\d+\)/],
      [{ dataRange: { datasets: [datasetId] }, limit: -5 }, 'BAD_REQUEST', /limit must be a positive number/],
      [{ dataRange: { datasets: [datasetId] }, filter: { colour: { _eq: 'red' } } }, 'BAD_REQUEST', /colour/],
      [{ dataRange: { datasets: [datasetId], metrics: ['temperature'] } }, 'BAD_REQUEST', /name::type/],
      [{ dataRange: { datasets: [datasetId] }, timeZone: 'Mars/Olympus' }, 'BAD_REQUEST', /IANA/],
    ];
    for (const [input, code, message] of cases) {
      const res = await createStream(input, alice.token);
      expect({ input, code: res.responseCode }).toEqual({ input, code });
      expect(res.message).toMatch(message);
      expect(res.item).toBeNull();
    }
    // An unknown field name is refused by the schema itself, naming the value.
    const unknownField = await server.gql(`mutation { createExport(input: { dataRange: { datasets: "${datasetId}" }, fields: [colour] }) { responseCode } }`, {}, alice.token);
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.errors?.[0].message).toMatch(/colour/);
    expect(await exportCount(alice.token)).toBe(before);
  });

  test('bad ingest: 400 naming the event and the reason, 413 over the size limit, and nothing stored', async () => {
    const before = await recordCount(alice.token);
    const bad = await ingest(datasetId, [{ metric: 'temperature::number', value: 1 }, { metric: 'temperature::number', value: 'warm' }], alice.token);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.message).toMatch(/^event 1: value "warm" is not a number/);
    const badMetric = await ingest(datasetId, [{ metric: 'temperature', value: 1 }], alice.token);
    expect(((await badMetric.json()) as any).error.message).toMatch(/event 0: metric "temperature" must be "name::type"/);
    const notJson = await ingest(datasetId, null, alice.token, '[{"metric": ');
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as any).error.message).toMatch(/not valid JSON/);
    const notArray = await ingest(datasetId, { metric: 'temperature::number' }, alice.token);
    expect(((await notArray.json()) as any).error.message).toMatch(/JSON array/);
    const big = Array.from({ length: 5000 }, (_, i) => ({ timestamp: T0 + i, metric: 'temperature::number', value: i, source: 'x'.repeat(40) }));
    const tooLarge = await ingest(datasetId, big, alice.token);
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as any).error).toMatchObject({ status: 413, message: expect.stringMatching(/INGEST_MAX_BYTES/) });
    expect(await recordCount(alice.token)).toBe(before);
  });

  test('a million seeded events export completely, with the server under 300 MB', async () => {
    const big = await store.cli<{ id: string }>(['dataset', 'create', '--name', 'big', '--owner', 'alice@example.com']);
    const seeded = await store.cli(['seed', '--dataset', big.id, '--events', '1000000']);
    expect(seeded).toEqual({ inserted: 1_000_000 });
    const created = await createStream({ dataRange: { datasets: big.id } }, alice.token);
    const started = Date.now();
    const done = await waitForExport(server, alice.token, created.item!.id, ['COMPLETED'], 300_000);
    const seconds = (Date.now() - started) / 1000;
    expect(done.status.recordsProcessed).toBe(1_000_000);
    const peak = server.peakRssMb();
    process.stdout.write(`[${STORE}] 1M export: ${Math.round(1_000_000 / seconds)} rows/s, server peak RSS ${peak.toFixed(0)} MB\n`);
    expect(peak).toBeLessThan(300);

    // Count the rows as the download streams: header + one line per event.
    const lines = await new Promise<number>((resolve, reject) => {
      http.get(`${server.url}/api/v3/data/exports/${created.item!.id}`, { headers: { authorization: `Bearer ${alice.token}` } }, (res) => {
        let n = 0;
        res.on('data', (chunk: Buffer) => {
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      });
    });
    expect(lines).toBe(1_000_001);
  });
});
