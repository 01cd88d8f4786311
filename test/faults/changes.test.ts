import { ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import Redis from 'ioredis';
import { Client } from 'graphql-ws';
import { collect, Collected, TestServer, TestStore, TestWorker, waitFor, waitForExport, wsClient } from '../e2e/harness';
import { logLines } from '../e2e/stall';
import { exportId, HEAVY, observed, Processes, waitUntilWriting } from './support';

const EVENTS = 300_000;
const FIELDS = 'id removed status { status recordsProcessed message }';
const MINE = `subscription { myExportsUpdated { ${FIELDS} } }`;
const ONE = `subscription($id: String!) { exportUpdated(id: $id) { ${FIELDS} } }`;
const ORDER = ['QUEUING', 'GENERATING', 'CANCELLED', 'COMPLETED', 'FAILED'];
const TERMINAL = ['CANCELLED', 'COMPLETED', 'FAILED'];

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** A redis-server of this test's own, on its own port, that the test stops and starts again. */
class LocalRedis {
  private child?: ChildProcess;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    this.child = child;
    await waitFor(async () => {
      const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, 'redis-server to answer', 10_000, 50);
  }

  /** The process is killed, as a crash or a lost host would: no goodbye to its clients. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

type Message = { at: number; id: string; removed: boolean; status: string; processed: number; message: string | null };

function messagesOf(sub: Collected<any>, field: 'myExportsUpdated' | 'exportUpdated', id?: string): Message[] {
  return sub.messages
    .map((m) => ({ at: m.at, ...m.data[field] }))
    .filter((m) => !id || m.id === id)
    .map((m) => ({ at: m.at, id: m.id, removed: m.removed, status: m.status.status, processed: m.status.recordsProcessed, message: m.status.message }));
}

/** In order: statuses never go back, progress never goes back within GENERATING, nothing after a removal. */
function outOfOrder(messages: Message[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < messages.length; i++) {
    const [a, b] = [messages[i - 1], messages[i]];
    if (a.removed) out.push(`message after the removal of ${a.id}`);
    if (ORDER.indexOf(b.status) < ORDER.indexOf(a.status) && !b.removed) out.push(`${a.id}: ${a.status} then ${b.status}`);
    if (a.status === 'GENERATING' && b.status === 'GENERATING' && b.processed < a.processed) out.push(`${a.id}: progress ${a.processed} then ${b.processed}`);
  }
  return out;
}

describe('change notices when Redis is down, drops, or is not used (MariaDB)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  const clients: Client[] = [];
  let redis: LocalRedis;
  let token: string;
  let input: Record<string, unknown>;
  let a: TestServer;
  let b: TestServer;
  let worker: TestWorker;

  const subscribe = (server: TestServer, query: string, variables: Record<string, unknown> = {}) => {
    const { client } = wsClient(server, token);
    clients.push(client);
    return collect(client, query, variables);
  };
  /** Subscribed for real: a query on the same server answered after the subscribe was sent. */
  const settle = async (server: TestServer) => {
    await server.data('{ me { id } }', {}, token);
    await new Promise((r) => setTimeout(r, 300));
  };

  beforeAll(async () => {
    await store.create();
    const seeded = await store.seededUser('ana@example.com', EVENTS);
    token = seeded.token;
    input = { dataRange: { datasets: [seeded.dataset] }, ...HEAVY };
    redis = new LocalRedis(await freePort());
  });

  afterAll(async () => {
    clients.forEach((c) => c.dispose());
    await procs.killAll();
    await redis.kill();
    await store.drop();
  });

  test('Redis down at start: processes start with one warning naming REDIS_URL, work through the database, and use Redis once it is back', async () => {
    const env = { REDIS_URL: redis.url };
    [a, b] = await Promise.all([procs.server(store, { EXPORT_WORKERS: '0', ...env }), procs.server(store, { EXPORT_WORKERS: '0', ...env })]);
    worker = await procs.worker(store, { EXPORT_CONCURRENCY: '2', ...env });
    const sub = subscribe(b, ONE, { id: await exportId(a, token, { ...input, limit: 50_000 }) });
    await sub.done;
    const seen = messagesOf(sub, 'exportUpdated');
    expect(seen[seen.length - 1]).toMatchObject({ status: 'COMPLETED', processed: 50_000 });
    expect(outOfOrder(seen)).toEqual([]);
    const warning = new RegExp(`REDIS_URL=redis://127.0.0.1:${redis.port} cannot be reached`);
    const warnings = [a.logs, b.logs, worker.logs].map((logs) => logLines(logs, warning).length);
    expect(warnings).toEqual([1, 1, 1]); // one each, though each retried many times meanwhile

    await redis.start();
    const upAt = Date.now();
    const back = /is reachable again/;
    await waitFor(async () => [a.logs, b.logs, worker.logs].every((logs) => logLines(logs, back).length > 0), 'every process to reconnect', 15_000, 50);
    const reconnectMs = Date.now() - upAt;
    // Used again: both servers subscribed, and the worker's progress travels on the channel.
    const listener = new Redis(redis.url);
    const heard: string[] = [];
    await listener.subscribe('sluice:export-changed');
    listener.on('message', (_c, raw: string) => heard.push(JSON.parse(raw).exportId));
    const admin = new Redis(redis.url);
    const numsub = (await admin.pubsub('NUMSUB', 'sluice:export-changed')) as [string, number];
    admin.disconnect();
    const id = await exportId(a, token, { ...input, limit: 20_000 });
    await waitForExport(a, token, id);
    await waitFor(async () => heard.includes(id), 'a notice on the Redis channel', 5_000);
    listener.disconnect();
    observed('Redis down at start', { warningsPerProcess: warnings, messagesSeenMeanwhile: seen.length, reconnectAfterRedisUpMs: reconnectMs, channelSubscribers: Number(numsub[1]) - 1 });
    expect(Number(numsub[1])).toBe(3); // the two servers and the test's own listener
  });

  test('Redis killed mid-run and started again: every subscriber on both servers sees every change and removal, in order, ending in the terminal state', async () => {
    // Every event: long enough to outlast the outage on a quiet machine (100 000 rows once ended before it).
    const long = input;
    const ids = [await exportId(a, token, long), await exportId(a, token, long), await exportId(b, token, long)];
    const [completes, cancelled, removed] = ids;
    const mine = [subscribe(a, MINE), subscribe(b, MINE)];
    const each = ids.flatMap((id) => [subscribe(a, ONE, { id }), subscribe(b, ONE, { id })]);
    await Promise.all([settle(a), settle(b)]);
    await waitUntilWriting(store, completes, undefined, 30_000);
    await waitUntilWriting(store, cancelled, undefined, 30_000);

    const killedAt = Date.now();
    await redis.kill();
    await new Promise((r) => setTimeout(r, 500));
    const cancelAt = Date.now();
    expect((await b.data('mutation($id: String!) { onExport(id: $id) { cancel { responseCode } } }', { id: cancelled }, token)).onExport.cancel.responseCode).toBe('SUCCESS');
    const removeAt = Date.now();
    expect((await a.data('mutation($id: String!) { onExport(id: $id) { remove { responseCode } } }', { id: removed }, token)).onExport.remove.responseCode).toBe('SUCCESS');
    await waitFor(async () => mine.every((s) => messagesOf(s, 'myExportsUpdated', removed).some((m) => m.removed)), 'the removal during the outage', 10_000, 20);
    // Redis stays down until progress has reached both servers' subscribers without it (or the export ended first, which fails below).
    await waitFor(
      async () =>
        mine.every((s) => messagesOf(s, 'myExportsUpdated', completes).some((m) => m.at > killedAt + 500 && (m.status === 'GENERATING' || TERMINAL.includes(m.status)))),
      'progress of the running export during the outage',
      10_000,
      20,
    );
    await redis.start();
    const restartedAt = Date.now();
    await waitForExport(a, token, completes, ['COMPLETED'], 240_000);
    const removeLastAt = Date.now();
    expect((await b.data('mutation($id: String!) { onExport(id: $id) { remove { responseCode } } }', { id: completes }, token)).onExport.remove.responseCode).toBe('SUCCESS');
    await Promise.all(each.map((s) => s.done));
    await waitFor(async () => mine.every((s) => messagesOf(s, 'myExportsUpdated', completes).some((m) => m.removed)), 'the last removal', 10_000, 20);

    const lag = (subs: Collected<any>[], id: string, since: number, match: (m: Message) => boolean) =>
      subs.map((s) => (messagesOf(s, 'myExportsUpdated', id).find(match)?.at ?? Infinity) - since);
    for (const s of mine) {
      for (const id of ids) expect(outOfOrder(messagesOf(s, 'myExportsUpdated', id))).toEqual([]);
      expect(messagesOf(s, 'myExportsUpdated', cancelled).pop()).toMatchObject({ status: 'CANCELLED', message: 'cancelled by the user', removed: false });
      expect(messagesOf(s, 'myExportsUpdated', removed).pop()).toMatchObject({ status: 'CANCELLED', message: 'removed by the user', removed: true });
      const last = messagesOf(s, 'myExportsUpdated', completes);
      expect(last.slice(-2).map((m) => [m.status, m.removed])).toEqual([['COMPLETED', false], ['COMPLETED', true]]);
      // Progress kept coming while Redis was away.
      expect(last.filter((m) => m.status === 'GENERATING' && m.at > killedAt + 500 && m.at < restartedAt).length).toBeGreaterThan(0);
    }
    for (const [i, s] of each.entries()) {
      const id = ids[Math.floor(i / 2)];
      const seen = messagesOf(s, 'exportUpdated');
      expect(s.errors).toEqual([]);
      expect(outOfOrder(seen)).toEqual([]);
      const end = seen[seen.length - 1];
      expect(TERMINAL).toContain(end.status);
      if (id === completes) expect(end).toMatchObject({ status: 'COMPLETED', processed: EVENTS, removed: false });
      if (id === cancelled) expect(end).toMatchObject({ status: 'CANCELLED', message: 'cancelled by the user' });
      if (id === removed) expect(end).toMatchObject({ status: 'CANCELLED', removed: true });
    }
    observed('Redis killed mid-run', {
      outageMs: restartedAt - killedAt,
      cancelSeenAfterMs: lag(mine, cancelled, cancelAt, (m) => m.status === 'CANCELLED'),
      removalSeenAfterMs: lag(mine, removed, removeAt, (m) => m.removed),
      removalAfterRedisBackMs: lag(mine, completes, removeLastAt, (m) => m.removed),
      progressMessagesDuringOutage: mine.map((s) => messagesOf(s, 'myExportsUpdated', completes).filter((m) => m.at > killedAt && m.at < restartedAt).length),
      warnings: [a.logs, b.logs, worker.logs].map((logs) => logLines(logs, /cannot be reached/).length),
    });
  }, 360_000);

  test('without Redis, a subscriber on server B sees an export removed on server A (a tombstone, not a vanished row)', async () => {
    const [x, y] = await Promise.all([procs.server(store, { EXPORT_WORKERS: '0' }), procs.server(store, { EXPORT_WORKERS: '0' })]);
    const finished = await exportId(x, token, { ...input, limit: 1000 });
    await waitForExport(x, token, finished);
    const queued = await Promise.all([exportId(x, token, input), exportId(x, token, input), exportId(x, token, input)]);
    const mine = subscribe(y, MINE);
    const watching = subscribe(y, ONE, { id: queued[2] });
    await settle(y);
    const removeFinishedAt = Date.now();
    await x.data('mutation($id: String!) { onExport(id: $id) { remove { responseCode } } }', { id: finished }, token);
    const removeQueuedAt = Date.now();
    await x.data('mutation($id: String!) { onExport(id: $id) { remove { responseCode } } }', { id: queued[2] }, token);
    await watching.done;
    const told = await waitFor(async () => {
      const m = messagesOf(mine, 'myExportsUpdated');
      const f = m.find((e) => e.id === finished && e.removed);
      const q = m.find((e) => e.id === queued[2] && e.removed);
      return f && q ? { f, q } : undefined;
    }, 'both removals on server B', 10_000, 20);
    const last = messagesOf(watching, 'exportUpdated').pop() as Message;
    observed('removal across servers without Redis', {
      finishedRemovalSeenAfterMs: told.f.at - removeFinishedAt, queuedRemovalSeenAfterMs: told.q.at - removeQueuedAt, exportUpdatedEndAfterMs: last.at - removeQueuedAt,
    });
    expect(told.f).toMatchObject({ status: 'COMPLETED', removed: true });
    expect(told.q).toMatchObject({ status: 'CANCELLED', message: 'removed by the user', removed: true });
    expect(last).toMatchObject({ id: queued[2], status: 'CANCELLED', removed: true });
    for (const id of queued.slice(0, 2)) await x.data('mutation($id: String!) { onExport(id: $id) { cancel { responseCode } } }', { id }, token);
  });
});
