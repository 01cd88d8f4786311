import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { STORE, TestServer, TestStore, waitFor, waitForExport } from './harness';
import { createExport, createWebhook, historyOf, WebhookReceiver } from './delivery-support';

const HEAVY = {
  fields: ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'],
  timestampFormat: 'ISO8601', timeZone: 'Europe/Paris', timestampPrecision: 'MICROSECONDS',
};
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const DELIVERIES = `query { me { webhooks { id url events createdOn deliveries { id event exportId attempts lastStatus lastError deliveredOn nextAttemptOn } } } }`;

describe(`webhooks on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let ana: { token: string; dataset: string };
  let ben: { token: string; dataset: string };
  let big: string;
  const receiver = new WebhookReceiver();
  const slow = new WebhookReceiver();

  beforeAll(async () => {
    await store.create();
    ana = await store.seededUser('ana@example.com', 3_000);
    ben = await store.seededUser('ben@example.com', 3_000, 'ben-sensors');
    big = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'big', '--owner', 'ana@example.com'])).id;
    await store.cli(['seed', '--dataset', big, '--events', '150000']);
    await Promise.all([receiver.start(), slow.start()]);
    server = new TestServer(store, { WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_DELAYS: '1s,2s,1s', MAX_DATA_EXPORTS: '200', EXPORT_CONCURRENCY: '4' });
    await server.start();
  }, 300_000); // seeding three datasets takes a while on a shared machine

  afterAll(async () => {
    await server?.stop();
    await Promise.all([receiver.stop(), slow.stop()]);
    await store.drop();
  });

  test('a completed export is POSTed once, signed so that the standardwebhooks verifier accepts it, with a link that downloads the file', async () => {
    const hook = await createWebhook(server, ana.token, receiver.url);
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(hook.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    receiver.calls.length = 0;
    const id = await createExport(server, ana.token, { name: 'daily', dataRange: { datasets: [ana.dataset] } });
    const done = await waitForExport(server, ana.token, id);
    const [call] = await waitFor(async () => (receiver.calls.length ? receiver.calls : undefined), 'the webhook call');
    const verified = new StandardWebhook(hook.secret).verify(call.body, {
      'webhook-id': String(call.headers['webhook-id']), 'webhook-timestamp': String(call.headers['webhook-timestamp']), 'webhook-signature': String(call.headers['webhook-signature']),
    }) as any;
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.headers['webhook-id']).toMatch(/^msg_/);
    expect(Math.abs(Number(call.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    expect(verified).toMatchObject({
      type: 'export.completed',
      data: { id, name: 'daily', status: 'COMPLETED', message: null, records: 3000, result: { sha256: done.result.sha256, sizeInBytes: done.result.sizeInBytes, truncated: false } },
    });
    expect(new Date(verified.timestamp).getTime()).toBe(verified.data.result.completedOn);
    // A tampered body fails the same verifier: the signature covers it.
    expect(() => new StandardWebhook(hook.secret).verify(call.body.replace('daily', 'dai1y'), call.headers as Record<string, string>)).toThrow();

    expect(verified.data.downloadLink).toMatch(new RegExp(`^/api/v3/data/exports/${id}\\?token=`));
    const file = await fetch(`${server.url}${verified.data.downloadLink}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(file.status).toBe(200);
    // fetch decodes the gzip it asked for; the sha256 is of the CSV.
    expect(sha256(Buffer.from(await file.arrayBuffer()))).toBe(done.result.sha256);

    const me = await server.data(DELIVERIES, {}, ana.token);
    expect(me.me.webhooks).toHaveLength(1);
    expect(me.me.webhooks[0]).toMatchObject({ id: hook.id, url: receiver.url, events: ['EXPORT_COMPLETED', 'EXPORT_FAILED', 'EXPORT_CANCELLED'] });
    expect(me.me.webhooks[0].deliveries).toEqual([
      { id: call.headers['webhook-id'], event: 'EXPORT_COMPLETED', exportId: id, attempts: 1, lastStatus: 204, lastError: null, deliveredOn: expect.any(Number), nextAttemptOn: null },
    ]);
    const history = await historyOf(server, ana.token, id);
    expect(history.map((e) => e.type)).toEqual(['QUEUED', 'STARTED', 'COMPLETED', 'WEBHOOK_DELIVERED', 'DOWNLOADED']);
    expect(history[3].message).toBe(`EXPORT_COMPLETED to ${receiver.url}: 204 on attempt 1 (webhook-id ${call.headers['webhook-id']})`);
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.calls).toHaveLength(1); // delivered once
    console.log(`[${STORE}] webhook sent and received: ${JSON.stringify({ headers: call.headers, status: call.status, body: JSON.parse(call.body) })}`);
  });

  test('an endpoint that fails is retried on WEBHOOK_RETRY_DELAYS with the same webhook-id, then delivered; a redirect is not followed', async () => {
    receiver.calls.length = 0;
    let n = 0;
    receiver.respond = () => (++n === 1 ? { status: 500 } : n === 2 ? { status: 302 } : { status: 200 });
    const id = await createExport(server, ana.token, { dataRange: { datasets: [ana.dataset] }, limit: 10 });
    await waitForExport(server, ana.token, id);
    const calls = await waitFor(async () => (receiver.calls.length >= 3 ? receiver.calls : undefined), 'three attempts', 30_000);
    receiver.respond = () => ({ status: 204 });
    expect(calls.map((c) => c.status)).toEqual([500, 302, 200]);
    expect(new Set(calls.map((c) => c.headers['webhook-id'])).size).toBe(1);
    expect(new Set(calls.map((c) => c.body)).size).toBe(1);
    // Delays of 1 s then 2 s (the machine is shared: generous bounds).
    expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(900);
    expect(calls[2].at - calls[1].at).toBeGreaterThanOrEqual(1900);
    const history = await waitFor(async () => {
      const h = await historyOf(server, ana.token, id);
      return h.some((e) => e.type === 'WEBHOOK_DELIVERED') ? h : undefined;
    }, 'the delivery in the history');
    expect(history.map((e) => e.type)).toEqual(['QUEUED', 'STARTED', 'COMPLETED', 'WEBHOOK_FAILED', 'WEBHOOK_FAILED', 'WEBHOOK_DELIVERED']);
    expect(history[3].message).toMatch(/attempt 1 answered 500; next attempt at /);
    expect(history[4].message).toMatch(/attempt 2 answered 302; next attempt at /);
    console.log(`[${STORE}] retried webhook: ${JSON.stringify(calls.map((c) => ({ at: c.at, status: c.status, id: c.headers['webhook-id'], timestamp: c.headers['webhook-timestamp'] })))}`);
  });

  test('an endpoint that never answers 2xx is given up after the last delay, and recorded', async () => {
    receiver.calls.length = 0;
    receiver.respond = () => ({ status: 503 });
    const id = await createExport(server, ana.token, { dataRange: { datasets: [ana.dataset] }, limit: 10 });
    await waitForExport(server, ana.token, id);
    const history = await waitFor(async () => {
      const h = await historyOf(server, ana.token, id);
      return h.filter((e) => e.type === 'WEBHOOK_FAILED').length === 4 ? h : undefined;
    }, 'four failed attempts', 30_000);
    receiver.respond = () => ({ status: 204 });
    expect(history[history.length - 1].message).toMatch(/attempt 4 answered 503; given up$/);
    expect(receiver.calls).toHaveLength(4);
    const me = await server.data(DELIVERIES, {}, ana.token);
    expect(me.me.webhooks[0].deliveries[0]).toMatchObject({ exportId: id, attempts: 4, lastStatus: 503, deliveredOn: null, nextAttemptOn: null });
  });

  test('only the events a webhook lists reach it; a cancel is export.cancelled; webhooks are at most 10 and can be removed', async () => {
    const me = await server.data(DELIVERIES, {}, ana.token);
    await server.data(`mutation ($id: String!) { onWebhook(id: $id) { remove { responseCode } } }`, { id: me.me.webhooks[0].id }, ana.token);
    const cancelsOnly = new WebhookReceiver();
    await cancelsOnly.start();
    try {
      await createWebhook(server, ana.token, cancelsOnly.url, ['EXPORT_CANCELLED']);
      const done = await createExport(server, ana.token, { dataRange: { datasets: [ana.dataset] }, limit: 5 });
      await waitForExport(server, ana.token, done);
      const cancelled = await createExport(server, ana.token, { dataRange: { datasets: [big] }, ...HEAVY });
      await waitForExport(server, ana.token, cancelled, ['GENERATING']);
      const answer = await server.data(`mutation ($id: String!) { onExport(id: $id) { cancel { responseCode } } }`, { id: cancelled }, ana.token);
      expect(answer.onExport.cancel.responseCode).toBe('SUCCESS');
      const calls = await waitFor(async () => (cancelsOnly.calls.length ? cancelsOnly.calls : undefined), 'the cancel webhook');
      expect(JSON.parse(calls[0].body)).toMatchObject({ type: 'export.cancelled', data: { id: cancelled, status: 'CANCELLED', message: 'cancelled by the user', result: null, downloadLink: null } });
      await new Promise((r) => setTimeout(r, 1000));
      expect(cancelsOnly.calls.every((c) => JSON.parse(c.body).type === 'export.cancelled')).toBe(true);
    } finally {
      await cancelsOnly.stop();
    }
    for (let i = 0; i < 9; i++) await createWebhook(server, ana.token, `${receiver.url}?n=${i}`);
    const eleventh = await server.data(`mutation { createWebhook(input: { url: "${receiver.url}?n=10" }) { responseCode message item { id } secret } }`, {}, ana.token);
    expect(eleventh.createWebhook).toEqual({ responseCode: 'LIMIT_REACHED', message: 'you have 10 webhooks; the limit is 10. Remove one first.', item: null, secret: null });
    const all = await server.data(DELIVERIES, {}, ana.token);
    for (const w of all.me.webhooks) await server.data(`mutation ($id: String!) { onWebhook(id: $id) { remove { responseCode item { id } } } }`, { id: w.id }, ana.token);
    expect((await server.data(DELIVERIES, {}, ana.token)).me.webhooks).toEqual([]);
    const gone = await server.data(`mutation ($id: String!) { onWebhook(id: $id) { remove { responseCode message } } }`, { id: all.me.webhooks[0].id }, ben.token);
    expect(gone.onWebhook.remove).toEqual({ responseCode: 'NOT_FOUND', message: `webhook ${all.me.webhooks[0].id} not found` });
  });

  test('a slow endpoint (30 s) holds neither another user\'s delivery nor any export', async () => {
    slow.respond = () => ({ status: 200, delayMs: 30_000 });
    receiver.respond = () => ({ status: 204 });
    receiver.calls.length = 0;
    await createWebhook(server, ana.token, slow.url);
    await createWebhook(server, ben.token, receiver.url);
    // Ana's exports all end at an endpoint that does not answer for 30 s.
    const anas = await Promise.all([1, 2, 3, 4, 5, 6].map(() => createExport(server, ana.token, { dataRange: { datasets: [ana.dataset] }, limit: 5 })));
    for (const id of anas) await waitForExport(server, ana.token, id);
    const t0 = Date.now();
    const bens = await createExport(server, ben.token, { dataRange: { datasets: [ben.dataset] }, limit: 5 });
    await waitForExport(server, ben.token, bens);
    const [call] = await waitFor(async () => (receiver.calls.length ? receiver.calls : undefined), 'ben\'s webhook', 8_000);
    expect(JSON.parse(call.body).data.id).toBe(bens);
    expect(call.at - t0).toBeLessThan(8_000);
    // Ana's next export runs as usual while her deliveries hang.
    const another = await createExport(server, ana.token, { dataRange: { datasets: [ana.dataset] }, limit: 5 });
    await waitForExport(server, ana.token, another, ['COMPLETED'], 8_000);
    // And the hung calls are cut at 10 s and retried.
    const history = await waitFor(async () => {
      const h = await historyOf(server, ana.token, anas[0]);
      return h.find((e) => e.type === 'WEBHOOK_FAILED');
    }, 'the 10 s timeout', 20_000);
    expect(history.message).toMatch(/attempt 1 no answer within 10 s; next attempt at/);
  });

  test('delivery latency from COMPLETED to arrival over 100 exports', async () => {
    const fast = new WebhookReceiver();
    await fast.start();
    try {
      const { token, dataset } = await store.seededUser('lat@example.com', 200, 'lat');
      await createWebhook(server, token, fast.url, ['EXPORT_COMPLETED']);
      const ids: string[] = [];
      for (let i = 0; i < 100; i++) {
        ids.push(await createExport(server, token, { dataRange: { datasets: [dataset] }, limit: 5 }));
        if (ids.length % 20 === 0) for (const id of ids.slice(-20)) await waitForExport(server, token, id);
      }
      await waitFor(async () => fast.calls.length >= 100 || undefined, '100 webhook calls', 60_000);
      const latencies = fast.calls.map((c) => c.at - JSON.parse(c.body).data.result.completedOn).sort((a, b) => a - b);
      const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)];
      expect(new Set(fast.calls.map((c) => JSON.parse(c.body).data.id)).size).toBe(100);
      console.log(`[${STORE}] webhook latency from COMPLETED to arrival over ${latencies.length} exports: p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${latencies[latencies.length - 1]} ms`);
      expect(p(0.99)).toBeLessThan(5_000);
    } finally {
      await fast.stop();
    }
  }, 400_000);
});

describe(`webhook addresses on ${STORE} without WEBHOOK_ALLOW_PRIVATE`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let dataset: string;
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    await store.create();
    ({ token, dataset } = await store.seededUser('eve@example.com', 100));
    await receiver.start();
  });

  afterAll(async () => {
    await server?.stop();
    await receiver.stop();
    await store.drop();
  });

  test('loopback, private and link-local hosts are refused at create, and again at delivery', async () => {
    // Made while private addresses were allowed...
    server = new TestServer(store, { WEBHOOK_ALLOW_PRIVATE: '1' });
    await server.start();
    await createWebhook(server, token, receiver.url);
    await server.stop();
    // ...then the server runs with the rule on.
    server = new TestServer(store, { WEBHOOK_RETRY_DELAYS: '1s' });
    await server.start();
    const refuse = async (url: string) =>
      (await server.data(`mutation ($url: String!) { createWebhook(input: { url: $url }) { responseCode message item { id } secret } }`, { url }, token)).createWebhook;
    for (const [url, address] of [[receiver.url, '127.0.0.1'], ['http://10.1.2.3/hook', '10.1.2.3'], ['http://localhost:9/x', ''], ['http://169.254.169.254/latest', '169.254.169.254'], ['http://[::1]/x', '::1'], ['http://192.168.1.1/', '192.168.1.1']]) {
      const answer = await refuse(url);
      expect(answer).toMatchObject({ responseCode: 'BAD_REQUEST', item: null, secret: null });
      expect(answer.message).toMatch(new RegExp(`^url refused: host .* is or resolves to ${address.replace(/\./g, '\\.')}.*loopback, private or link-local address.*WEBHOOK_ALLOW_PRIVATE=1`));
    }
    expect((await refuse('ftp://example.com/x')).message).toBe('url must be http:// or https://, not ftp://');
    expect((await refuse('not a url')).message).toBe('url "not a url" is not a URL; give an absolute http:// or https:// URL');

    const id = await createExport(server, token, { dataRange: { datasets: [dataset] }, limit: 5 });
    await waitForExport(server, token, id);
    const history = await waitFor(async () => {
      const h = await historyOf(server, token, id);
      return h.filter((e) => e.type === 'WEBHOOK_FAILED').length === 2 ? h : undefined;
    }, 'the refused attempts', 20_000);
    expect(history[history.length - 1].message).toMatch(/is or resolves to 127\.0\.0\.1, a loopback, private or link-local address.*given up$/);
    expect(receiver.calls).toHaveLength(0);
  });
});
