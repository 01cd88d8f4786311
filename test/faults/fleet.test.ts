import { ExportQueue, UserActivity } from '../../src/exports/queue';
import { collect, TestServer, TestStore, TestWorker, waitForExport, wsClient } from '../e2e/harness';
import { createUsers, download, ExportRow, exportId, exportRows, HEAVY, observed, Processes, sha256, tmpFiles } from './support';

const EVENTS = 100_000;
const REDIS = { REDIS_URL: 'redis://127.0.0.1:6379' };
/** Who asks, in order: user 0 asks three times first, so a fair queue must not let that batch hold the others back. */
const ASKERS = [0, 0, 0, 1, 2, 0, 3, 1, 1, 2, 3, 0, 1, 2, 2, 3, 3, 1, 2, 3];
/** Clock slack around a claim: a worker reads the queue a few milliseconds after stamping startedOn. */
const TOLERANCE_MS = 100;

/** The queue as a worker saw it at time t: who was generating, and when each user last finished. */
function activityAt(rows: ExportRow[], t: number, except: string): UserActivity {
  const busy = new Set<string>();
  const lastDone = new Map<string, number>();
  for (const z of rows) {
    if (z.id === except || z.started_on === null) continue;
    if (z.started_on <= t && t < z.updated_on) busy.add(z.user_id);
    if (z.updated_on <= t) lastDone.set(z.user_id, Math.max(lastDone.get(z.user_id) ?? 0, z.updated_on));
  }
  return { busy, lastDone };
}

/**
 * Replays the run: at each export's start, it must have come first in ExportQueue.order() among the exports
 * surely waiting then, as the queue stood just before or just after (the claim reads it within that window).
 */
function fairFifoViolations(rows: ExportRow[]): string[] {
  const out: string[] = [];
  for (const x of rows) {
    const s = x.started_on as number;
    const waiting = rows.filter((y) => y.id !== x.id && y.requested_on < s - TOLERANCE_MS && (y.started_on as number) > s + TOLERANCE_MS);
    const candidates = [x, ...waiting].map((r) => ({ id: r.id, userId: r.user_id, requestedOn: r.requested_on }));
    const firstIn = (t: number) => ExportQueue.order(candidates, activityAt(rows, t, x.id))[0].id === x.id;
    if (!firstIn(s - TOLERANCE_MS) && !firstIn(s + TOLERANCE_MS)) {
      const ahead = ExportQueue.order(candidates, activityAt(rows, s, x.id))[0];
      out.push(`export ${x.id} (user ${x.user_id}) started at ${s} ahead of ${ahead.id} (user ${ahead.userId}, requested ${ahead.requestedOn})`);
    }
  }
  return out;
}

/** Two servers without workers and two worker processes on one MariaDB, one exports directory and Redis. */
describe('a fleet: 2 servers + 2 workers on one database (MariaDB)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  let a: TestServer;
  let b: TestServer;
  let workers: TestWorker[];
  let users: { id: string; email: string; token: string }[];
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    users = await createUsers(store, ['u0@example.com', 'u1@example.com', 'u2@example.com', 'u3@example.com']);
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'shared', '--owner', 'u0@example.com'])).id;
    await store.cli(['seed', '--dataset', dataset, '--events', String(EVENTS)]);
    [a, b] = await Promise.all([procs.server(store, { EXPORT_WORKERS: '0', ...REDIS }), procs.server(store, { EXPORT_WORKERS: '0', ...REDIS })]);
    for (const u of users.slice(1)) {
      const res = await a.data('mutation($d: String!, $e: String!) { onDataset(id: $d) { addMember(email: $e, permission: READ) { responseCode } } }', { d: dataset, e: u.email }, users[0].token);
      expect(res.onDataset.addMember.responseCode).toBe('SUCCESS');
    }
    // One export at a time per worker: two slots for four users, so the fair order decides who goes next.
    workers = await Promise.all([procs.worker(store, { EXPORT_CONCURRENCY: '1', ...REDIS }), procs.worker(store, { EXPORT_CONCURRENCY: '1', ...REDIS })]);
  });

  afterAll(async () => {
    await procs.killAll();
    await store.drop();
  });

  test('20 exports from 4 users through both servers: all complete, each generated exactly once, in the fair queue order', async () => {
    const created: { id: string; user: number; via: TestServer }[] = [];
    const t0 = Date.now();
    for (const [i, user] of ASKERS.entries()) {
      const via = i % 2 ? b : a;
      created.push({ id: await exportId(via, users[user].token, { name: `fleet-${i}`, dataRange: { datasets: [dataset] } }), user, via });
    }
    for (const c of created) await waitForExport(c.via, users[c.user].token, c.id, ['COMPLETED'], 90_000);
    const elapsed = Date.now() - t0;

    const rows = await exportRows(store, created.map((c) => c.id));
    expect(rows.map((r) => [r.status, r.attempt, r.records_processed])).toEqual(rows.map(() => ['COMPLETED', 1, EVENTS]));
    const started = workers.flatMap((w) => w.lines(/export started/).map((l) => l.export as string));
    const completed = workers.flatMap((w) => w.lines(/export completed/).map((l) => l.export as string));
    for (const c of created) {
      expect(started.filter((id) => id === c.id)).toHaveLength(1);
      expect(completed.filter((id) => id === c.id)).toHaveLength(1);
    }
    const perWorker = workers.map((w) => w.lines(/export completed/).length);
    expect(perWorker.every((n) => n > 0)).toBe(true);

    expect(fairFifoViolations(rows)).toEqual([]);
    // Within one user, strictly first in, first out.
    for (const u of users) {
      const own = rows.filter((r) => r.user_id === u.id);
      expect(own.map((r) => r.id)).toEqual([...own].sort((x, y) => (x.started_on as number) - (y.started_on as number)).map((r) => r.id));
    }
    // User 0's early batch did not hold the others back: everyone's first export started before user 0's third.
    const startOf = (i: number) => rows.find((r) => r.id === created[i].id)?.started_on as number;
    const firstOf = (u: number) => startOf(ASKERS.indexOf(u));
    expect(Math.max(firstOf(1), firstOf(2), firstOf(3))).toBeLessThan(startOf(2));

    // One exports directory: every file downloads, correct, from the server that did not take the request.
    for (const c of created) {
      const other = c.via === a ? b : a;
      const res = await download(other, users[c.user].token, c.id, c.user % 2 === 0);
      expect(res.status).toBe(200);
      expect(sha256(res.csv)).toBe(rows.find((r) => r.id === c.id)?.sha256);
    }
    // A download link made on one server opens on the other (the signing key is in the database).
    const linked = created[0];
    const made = await a.data('mutation($id: String!) { onExport(id: $id) { createDownloadLink { link } } }', { id: linked.id }, users[linked.user].token);
    const viaLink = await fetch(`${b.url}${made.onExport.createDownloadLink.link}`);
    expect(viaLink.status).toBe(200);
    expect(sha256(Buffer.from(await viaLink.arrayBuffer()))).toBe(rows.find((r) => r.id === linked.id)?.sha256);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
    observed('fleet', { exports: rows.length, elapsedMs: elapsed, perWorker, attempts: [...new Set(rows.map((r) => r.attempt))] });
  });

  test('a subscriber on server B sees the progress of an export created on server A', async () => {
    const { client } = wsClient(b, users[1].token);
    const id = await exportId(a, users[1].token, { dataRange: { datasets: [dataset] }, ...HEAVY });
    const sub = collect(client, 'subscription($id: String!) { exportUpdated(id: $id) { id status { status recordsProcessed } } }', { id });
    await sub.done;
    client.dispose();
    expect(sub.errors).toEqual([]);
    const statuses = sub.messages.map((m) => m.data.exportUpdated.status);
    const progress = statuses.map((s) => s.recordsProcessed).filter((n: number) => n > 0 && n < EVENTS);
    observed('cross-server progress', { messages: statuses.length, intermediateProgress: progress.length, first: statuses[0]?.status, last: statuses[statuses.length - 1]?.status });
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(statuses[statuses.length - 1]).toEqual({ status: 'COMPLETED', recordsProcessed: EVENTS });
  });
});
