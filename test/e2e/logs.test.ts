import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { collect, STORE, TestServer, TestStore, waitForExport, wsClient } from './harness';

const METRICS_TOKEN = 'metrics-token-for-the-log-test-42';

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode as number, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

describe(`logs on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  const secrets: string[] = [METRICS_TOKEN, 'not-a-real-token-but-still-a-secret'];
  let lines: Record<string, any>[] = [];
  let logFile: string;

  beforeAll(async () => {
    await store.create();
    await store.cli(['migrate']);
    const alice = await store.seededUser('alice@example.com', 500);
    const second = await store.cli<{ token: string }>(['token', 'create', '--email', 'alice@example.com']);
    const bob = await store.cli<{ token: string }>(['user', 'create', '--email', 'bob@example.com']);
    secrets.push(alice.token, second.token, bob.token);
    server = new TestServer(store, { METRICS_TOKEN });
    await server.start();
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });

    // A whole journey: ingest, query, subscribe, export, link, downloads, failures, metrics.
    const ingest = await fetch(`${server.url}/api/v3/data/ingest/${alice.dataset}?token=${second.token}`, {
      method: 'POST', headers: { ...auth(second.token), 'content-type': 'application/json', 'x-request-id': 'journey-ingest-1' },
      body: JSON.stringify([{ timestamp: 1_800_000_000_000, metric: 'temp::number', value: 1 }]),
    });
    expect(ingest.status).toBe(204);
    expect(ingest.headers.get('x-request-id')).toBe('journey-ingest-1');

    const { client } = wsClient(server, alice.token);
    const created = await server.data('mutation Journey($i: CreateExportInput!) { createExport(input: $i) { item { id } } }', { i: { dataRange: { datasets: [alice.dataset] } } }, alice.token);
    const id = created.createExport.item.id as string;
    const sub = collect(client, 'subscription Follow($id: String!) { exportUpdated(id: $id) { status { status } } }', { id });
    await waitForExport(server, alice.token, id);
    await sub.done;
    await client.dispose();

    const link = (await server.data('mutation Link($id: String!) { onExport(id: $id) { createDownloadLink { link } } }', { id }, alice.token)).onExport.createDownloadLink.link as string;
    const linkToken = new URL(link, server.url).searchParams.get('token') as string;
    secrets.push(linkToken);
    expect((await get(`${server.url}${link}`)).status).toBe(200);
    expect((await get(`${server.url}/api/v3/data/exports/${id}?token=${linkToken}x`)).status).toBe(401);
    expect((await get(`${server.url}/api/v3/data/exports/${id}`, { ...auth(alice.token), 'accept-encoding': 'gzip' })).status).toBe(200);
    expect((await get(`${server.url}/api/v3/data/exports/${id}`, auth(bob.token))).status).toBe(404);
    expect((await server.gql('{ me { id } }', {}, 'not-a-real-token-but-still-a-secret')).status).toBe(401);
    const { client: refused, closed } = wsClient(server, 'not-a-real-token-but-still-a-secret');
    const refusedSub = collect(refused, 'subscription { myExportsUpdated { id } }');
    expect((await closed).code).toBe(4401);
    await refusedSub.done;
    expect((await get(`${server.url}/metrics`, auth(METRICS_TOKEN))).status).toBe(200);
    expect((await get(`${server.url}/metrics`, auth(alice.token))).status).toBe(401);

    // Stop the server so that every line is written, then keep them in a file as an operator would.
    await server.stop();
    logFile = path.join(store.dir, 'server.log');
    fs.writeFileSync(logFile, server.logs);
    lines = fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  it('never writes a token, a download-link token or the metrics token', () => {
    expect(lines.length).toBeGreaterThan(20);
    const text = fs.readFileSync(logFile, 'utf8');
    for (const [n, line] of text.split('\n').entries()) {
      for (const secret of secrets) {
        if (line.includes(secret) || line.includes(encodeURIComponent(secret))) throw new Error(`log line ${n + 1} holds a secret: ${line}`);
      }
    }
    expect(lines.some((l) => /\?token=\[redacted\]/.test(String(l.req?.url)))).toBe(true);
  });

  it('writes one JSON line per HTTP request with its id, user, status and duration, and honours x-request-id', () => {
    const ingest = lines.filter((l) => l.requestId === 'journey-ingest-1');
    expect(ingest).toHaveLength(1);
    expect(ingest[0]).toMatchObject({ req: { method: 'POST' }, res: { statusCode: 204 } });
    expect(ingest[0].userId).toEqual(expect.any(String));
    expect(ingest[0].durationMs).toEqual(expect.any(Number));
    const requests = lines.filter((l) => l.res?.statusCode !== undefined);
    for (const r of requests) expect(r.requestId).toEqual(expect.any(String));
    expect(new Set(requests.map((r) => r.requestId)).size).toBe(requests.length);
    const statuses = requests.map((r) => r.res.statusCode);
    for (const s of [200, 204, 401, 404]) expect(statuses).toContain(s);
    // The link download is logged as its owner's.
    const viaLink = requests.find((r) => /\?token=/.test(r.req.url) && r.res.statusCode === 200);
    expect(viaLink?.userId).toBe(ingest[0].userId);
  });

  it('writes one line per GraphQL operation, over HTTP and WebSocket, with its name, type, status and duration', () => {
    const ops = lines.filter((l) => l.operation !== undefined && l.type !== undefined);
    const journey = ops.find((l) => l.operation === "Journey") as Record<string, any>;
    expect(journey).toMatchObject({ type: 'mutation', transport: 'http', status: 200, code: 'OK' });
    expect(journey.requestId).toEqual(expect.any(String));
    expect(journey.userId).toEqual(expect.any(String));
    expect(journey.durationMs).toEqual(expect.any(Number));
    expect(ops.find((l) => l.operation === 'Follow')).toMatchObject({ type: 'subscription', transport: 'ws', code: 'OK', userId: journey.userId });
    // The HTTP line of the same request carries the same id.
    expect(lines.filter((l) => l.requestId === journey.requestId && l.res?.statusCode === 200)).toHaveLength(1);
  });

  it('writes one line per export state change with the export id and attempt', () => {
    const changes = lines.filter((l) => l.export && l.status);
    const states = changes.map((l) => `${l.status}:${l.attempt}`);
    expect(states).toEqual(expect.arrayContaining(['QUEUING:0', 'GENERATING:1', 'COMPLETED:1']));
    const exportIds = new Set(changes.map((l) => l.export));
    expect(exportIds.size).toBe(1);
  });
});
