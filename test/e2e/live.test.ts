import fs from 'node:fs';
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { collect, STORE, TestServer, TestStore, waitFor, waitForExport, wsClient } from './harness';

const EXPORT_FIELDS = 'id status { status recordsEstimate recordsProcessed queuePosition message } result { sha256 }';
const UPDATED = `subscription($id: String!) { exportUpdated(id: $id) { ${EXPORT_FIELDS} } }`;
const EVENTS = 1_000_000;
/** Rows of the across-processes progress export. */
const PROGRESS_LIMIT = 300_000;

describe(`live progress, cancel and download links on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let otherToken: string;
  let bigDataset: string;
  let smallDataset: string;

  const create = async (dataset: string, t = token, extra: Record<string, unknown> = {}) => {
    const d = await server.data(
      'mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message item { id } } }',
      { i: { dataRange: { datasets: [dataset] }, ...extra } },
      t,
    );
    expect(d.createExport.responseCode).toBe('SUCCESS');
    return d.createExport.item.id as string;
  };

  beforeAll(async () => {
    await store.create();
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    otherToken = (await store.cli<{ token: string }>(['user', 'create', '--email', 'eve@example.com'])).token;
    bigDataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'big', '--owner', 'ana@example.com'])).id;
    smallDataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'small', '--owner', 'ana@example.com'])).id;
    await store.cli(['seed', '--dataset', bigDataset, '--events', String(EVENTS)]);
    await store.cli(['seed', '--dataset', smallDataset, '--events', '1000']);
    server = new TestServer(store, { DOWNLOAD_LINK_TTL: '3s', EXPORT_CONCURRENCY: '2' });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('exportUpdated: the state at once, progress at least every second and at most 10 a second, the terminal state, then complete', async () => {
    const { client } = wsClient(server, token);
    const id = await create(bigDataset);
    const sub = collect(client, UPDATED, { id });
    await sub.done;
    client.dispose();
    expect(sub.errors).toEqual([]);
    const states = sub.messages.map((m) => m.data.exportUpdated.status);
    expect(['QUEUING', 'GENERATING']).toContain(states[0].status);
    expect(states[states.length - 1]).toMatchObject({ status: 'COMPLETED', recordsProcessed: EVENTS, recordsEstimate: EVENTS });
    const generating = sub.messages.filter((m) => m.data.exportUpdated.status.status === 'GENERATING');
    const intermediate = generating.map((m) => m.data.exportUpdated.status.recordsProcessed).filter((n: number) => n > 0 && n < EVENTS);
    expect(intermediate.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < intermediate.length; i++) expect(intermediate[i]).toBeGreaterThanOrEqual(intermediate[i - 1]);
    const times = sub.messages.map((m) => m.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    const generatingGaps = generating.slice(1).map((m, i) => m.at - generating[i].at);
    expect(Math.max(...generatingGaps)).toBeLessThanOrEqual(1300);
    // never more than 10 a second: no window of one second holds more than 10 messages
    for (let i = 0; i < times.length; i++) expect(times.filter((t) => t >= times[i] && t < times[i] + 1000).length).toBeLessThanOrEqual(10);
    expect(gaps.length).toBeGreaterThan(0);
  });

  test('a bad token closes the socket with 4401; another user\'s export is NOT_FOUND and reveals nothing', async () => {
    const bad = wsClient(server, 'slc_wrong');
    const badSub = collect(bad.client, '{ __typename }'.replace('{', 'subscription { myExportsUpdated { id } } #'));
    expect((await bad.closed).code).toBe(4401);
    await badSub.done;
    const missing = wsClient(server, null);
    collect(missing.client, 'subscription { myExportsUpdated { id } }');
    const closed = await missing.closed;
    expect(closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/connection_init/) });

    const id = await create(smallDataset);
    await waitForExport(server, token, id);
    const eve = wsClient(server, otherToken);
    const sub = collect(eve.client, UPDATED, { id });
    await sub.done;
    eve.client.dispose();
    expect(sub.messages).toEqual([]);
    expect(JSON.stringify(sub.errors)).toMatch(/export .* not found/);
    expect(JSON.stringify(sub.errors)).toMatch(/NOT_FOUND/);
  });

  test('myExportsUpdated streams changes to the caller\'s exports only', async () => {
    const ana = wsClient(server, token);
    const eve = wsClient(server, otherToken);
    const anaSub = collect(ana.client, `subscription { myExportsUpdated { ${EXPORT_FIELDS} } }`);
    const eveSub = collect(eve.client, `subscription { myExportsUpdated { ${EXPORT_FIELDS} } }`);
    await waitFor(async () => server.logs.length > 0, 'connection'); // the subscriptions are sent before the export below
    await new Promise((r) => setImmediate(r));
    const id = await create(smallDataset);
    await waitFor(async () => anaSub.messages.some((m) => m.data.myExportsUpdated.id === id && m.data.myExportsUpdated.status.status === 'COMPLETED'), 'ana to see her export complete', 30_000);
    expect(eveSub.messages.filter((m) => m.data.myExportsUpdated.id === id)).toEqual([]);
    anaSub.stop();
    eveSub.stop();
    ana.client.dispose();
    eve.client.dispose();
  });

  test('cancel reaches a GENERATING export within a second: CANCELLED with a message, no temporary file, the worker goes on', async () => {
    const id = await create(bigDataset);
    await waitForExport(server, token, id, ['GENERATING']);
    await waitFor(async () => fs.readdirSync(store.exportsDir).some((f) => f.startsWith(id) && f.endsWith('.tmp')), 'the temporary file');
    const asked = Date.now();
    const res = await server.data(`mutation($id: String!) { onExport(id: $id) { cancel { responseCode message item { status { status message } } } } }`, { id }, token);
    expect(res.onExport.cancel).toMatchObject({ responseCode: 'SUCCESS', item: { status: { status: 'CANCELLED', message: 'cancelled by the user' } } });
    await waitFor(async () => !fs.readdirSync(store.exportsDir).some((f) => f.startsWith(id)), 'the temporary file to go', 1000, 20);
    expect(Date.now() - asked).toBeLessThan(1000);
    const again = await server.data(`mutation($id: String!) { onExport(id: $id) { cancel { responseCode message } } }`, { id }, token);
    expect(again.onExport.cancel).toEqual({ responseCode: 'BAD_REQUEST', message: `export ${id} is CANCELLED; only a QUEUING or GENERATING export can be cancelled` });
    // The worker is free: the next export completes.
    await waitForExport(server, token, await create(smallDataset));
  });

  test('remove cancels, then deletes the record and its file', async () => {
    const id = await create(smallDataset);
    await waitForExport(server, token, id);
    expect(fs.readdirSync(store.exportsDir).some((f) => f.startsWith(id))).toBe(true);
    const res = await server.data(`mutation($id: String!) { onExport(id: $id) { remove { responseCode message } } }`, { id }, token);
    expect(res.onExport.remove).toEqual({ responseCode: 'SUCCESS', message: `export ${id} removed` });
    expect(fs.readdirSync(store.exportsDir).some((f) => f.startsWith(id))).toBe(false);
    const download = await fetch(`${server.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(download.status).toBe(404);
  });

  test('download links: relative, work with no header, for that export only, and expire', async () => {
    const id = await create(smallDataset);
    const other = await create(smallDataset);
    const notYet = await server.data(`mutation($id: String!) { onExport(id: $id) { createDownloadLink { responseCode message link } } }`, { id: other }, token);
    if (notYet.onExport.createDownloadLink.responseCode !== 'SUCCESS') expect(notYet.onExport.createDownloadLink.message).toMatch(/can be downloaded once COMPLETED/);
    const done = await waitForExport(server, token, id);
    await waitForExport(server, token, other);
    const linkOf = async (exportId: string) =>
      (await server.data(`mutation($id: String!) { onExport(id: $id) { createDownloadLink { responseCode message link expiresOn } } }`, { id: exportId }, token)).onExport.createDownloadLink;
    const made = await linkOf(id);
    expect(made.responseCode).toBe('SUCCESS');
    expect(made.link).toMatch(new RegExp(`^/api/v3/data/exports/${id}\\?token=[^&]+$`));
    expect(made.expiresOn).toBeGreaterThan(Date.now());
    expect(made.expiresOn).toBeLessThanOrEqual(Date.now() + 3000);

    const ok = await fetch(`${server.url}${made.link}`);
    expect(ok.status).toBe(200);
    expect(require('node:crypto').createHash('sha256').update(Buffer.from(await ok.arrayBuffer())).digest('hex')).toBe(done.result.sha256);

    const token2 = new URL(made.link, server.url).searchParams.get('token') as string;
    const tampered = await fetch(`${server.url}/api/v3/data/exports/${id}?token=${token2.slice(0, -2)}xx`);
    expect(tampered.status).toBe(401);
    expect(((await tampered.json()) as any).error.message).toMatch(/not valid for this export/);
    const elsewhere = await fetch(`${server.url}/api/v3/data/exports/${other}?token=${token2}`);
    expect(elsewhere.status).toBe(401);
    await waitFor(async () => Date.now() > made.expiresOn + 50, 'the link to expire', 5000, 100);
    const expired = await fetch(`${server.url}${made.link}`);
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as any).error.message).toMatch(/expired/);
  });

  test('200 subscribers to one export all get the terminal state while queries keep being answered', async () => {
    const id = await create(bigDataset, token, { limit: 300_000 });
    const clients = Array.from({ length: 10 }, () => wsClient(server, token).client);
    const subs = Array.from({ length: 200 }, (_, i) => collect(clients[i % clients.length], UPDATED, { id }));
    const latencies: number[] = [];
    let finished = false;
    const all = Promise.all(subs.map((s) => s.done)).then(() => (finished = true));
    while (!finished) {
      const t = Date.now();
      await server.data('{ me { id } }', {}, token);
      latencies.push(Date.now() - t);
    }
    await all;
    clients.forEach((c) => c.dispose());
    for (const s of subs) {
      expect(s.errors).toEqual([]);
      expect(s.messages[s.messages.length - 1].data.exportUpdated.status).toMatchObject({ status: 'COMPLETED', recordsProcessed: 300_000 });
    }
    latencies.sort((a, b) => a - b);
    process.stdout.write(`[${STORE}] fan-out: ${latencies.length} queries meanwhile, p50 ${latencies[Math.floor(latencies.length / 2)]} ms, max ${latencies[latencies.length - 1]} ms\n`);
    expect(latencies.length).toBeGreaterThan(3);
    expect(latencies[Math.floor(latencies.length * 0.5)]).toBeLessThan(500);
  });
});

/** A separate worker process on MariaDB: progress and cancel cross processes, through the database or Redis. */
// Separate worker processes are a MySQL/MariaDB deployment (SPEC §1); the SQLite run has no such suite.
// One seeded store for both paths (seeding a million rows is most of this suite's time); each path has its own server and worker.
const acrossProcesses = STORE === 'mysql' ? describe : (_name: string, _suite: () => void) => undefined;
acrossProcesses('across processes', () => {
  const store = new TestStore('mysql');
  let token: string;
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'big', '--owner', 'ana@example.com'])).id;
    await store.cli(['seed', '--dataset', dataset, '--events', String(EVENTS)]);
  });

  afterAll(async () => {
    await store.drop();
  });

  describe.each(['database', 'redis'])('through %s', (via: string) => {
    let server: TestServer;
    let worker: ChildProcess;
    const extra: Record<string, string> = via === 'redis' ? { REDIS_URL: 'redis://127.0.0.1:6379' } : {};

    beforeAll(async () => {
      server = new TestServer(store, { EXPORT_WORKERS: '0', ...extra });
      await server.start();
      worker = spawn(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'sluice.js'), 'worker'], { env: store.env(extra), stdio: 'ignore' });
    });

    afterAll(async () => {
      if (worker && worker.exitCode === null) {
        const exited = new Promise((r) => worker.once('exit', r));
        worker.kill('SIGTERM');
        await exited;
      }
      await server?.stop();
    });

    test('a subscriber on the server sees the worker\'s progress, and a cancel stops the worker within a second', async () => {
      const { client } = wsClient(server, token);
      // A few seconds of work give several progress messages; the cancel below takes the whole million.
      const created = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { item { id } } }', { i: { dataRange: { datasets: [dataset] }, limit: PROGRESS_LIMIT } }, token);
      const id = created.createExport.item.id;
      const sub = collect(client, UPDATED, { id });
      await sub.done;
      const processed = sub.messages.map((m) => m.data.exportUpdated.status.recordsProcessed).filter((n: number) => n > 0 && n < PROGRESS_LIMIT);
      expect(processed.length).toBeGreaterThanOrEqual(2);
      expect(sub.messages[sub.messages.length - 1].data.exportUpdated.status).toMatchObject({ status: 'COMPLETED', recordsProcessed: PROGRESS_LIMIT });

      const second = (await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { item { id } } }', { i: { dataRange: { datasets: [dataset] } } }, token)).createExport.item.id;
      const watch = collect(client, UPDATED, { id: second });
      await waitFor(async () => watch.messages.some((m) => m.data.exportUpdated.status.recordsProcessed > 0), 'progress from the worker');
      const asked = Date.now();
      await server.data(`mutation($id: String!) { onExport(id: $id) { cancel { responseCode } } }`, { id: second }, token);
      await waitFor(async () => !fs.readdirSync(store.exportsDir).some((f) => f.startsWith(second)), 'the worker to drop its temporary file', 1500, 20);
      expect(Date.now() - asked).toBeLessThan(1000);
      await watch.done;
      expect(watch.messages[watch.messages.length - 1].data.exportUpdated.status).toMatchObject({ status: 'CANCELLED', message: 'cancelled by the user' });
      client.dispose();
    });
  });
});
