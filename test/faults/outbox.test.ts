import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { TestStore, waitFor, waitForExport } from '../e2e/harness';
import { createWebhook, freePort, historyOf, WebhookReceiver } from '../e2e/delivery-support';
import { exportId, observed, Processes, sql } from './support';

interface OutboxRow {
  id: string;
  state: string;
  attempts: number;
  claims: number;
  last_error: string | null;
}

const outboxRows = async (store: TestStore, exportIdValue: string) =>
  sql<OutboxRow>(store.databaseUrl, 'SELECT id, state, attempts, claims, last_error FROM outbox_message WHERE export_id = ? ORDER BY created_on', [exportIdValue]);

describe('the outbox survives crashes and outages (MariaDB)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  let token: string;
  let dataset: string;
  let n = 0;

  beforeAll(async () => {
    await store.create();
  });

  // Each case has a user of its own, so webhooks of one case never receive another's exports.
  beforeEach(async () => {
    ({ token, dataset } = await store.seededUser(`olga${++n}@example.com`, 2_000, `sensors-${n}`));
  });

  afterAll(async () => {
    await procs.killAll();
    await store.drop();
  });

  test('a worker killed (kill -9) between webhook attempts: another process delivers it once afterwards, with the same webhook-id', async () => {
    const receiver = new WebhookReceiver();
    await receiver.start();
    const env = { WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_DELAYS: '4s,4s,4s' };
    try {
      // The server only takes the request, then goes: the worker alone generates and sends.
      const server = await procs.server(store, { ...env, EXPORT_WORKERS: '0' });
      await createWebhook(server, token, receiver.url);
      const id = await exportId(server, token, { dataRange: { datasets: [dataset] } });
      await server.stop();
      receiver.respond = () => ({ status: 503 });
      const first = await procs.worker(store, env);
      await waitFor(async () => receiver.calls.length >= 1 || undefined, 'the first attempt', 60_000);
      await waitFor(async () => (await outboxRows(store, id))[0]?.attempts === 1 || undefined, 'attempt 1 recorded');
      await first.kill(); // between attempt 1 and its retry 4 s later
      const killedAt = Date.now();
      const [pending] = await outboxRows(store, id);
      expect(pending).toMatchObject({ state: 'PENDING', attempts: 1 });
      receiver.respond = () => ({ status: 200 });
      await new Promise((r) => setTimeout(r, 1_000));
      expect(receiver.calls).toHaveLength(1); // nothing is sent while no process runs
      await procs.worker(store, env);
      await waitFor(async () => receiver.calls.length >= 2 || undefined, 'the delivery after the restart', 60_000);
      await new Promise((r) => setTimeout(r, 5_000)); // past another retry delay: nothing more comes
      expect(receiver.calls.map((c) => c.status)).toEqual([503, 200]);
      expect(receiver.calls[1].headers['webhook-id']).toBe(receiver.calls[0].headers['webhook-id']);
      expect(receiver.calls[1].body).toBe(receiver.calls[0].body);
      const [row] = await outboxRows(store, id);
      expect(row).toMatchObject({ id: receiver.calls[0].headers['webhook-id'], state: 'DELIVERED', attempts: 2 });
      observed('webhook across kill -9', {
        webhookId: row.id, attempt1At: receiver.calls[0].at, killedAt, attempt2At: receiver.calls[1].at, statuses: receiver.calls.map((c) => c.status), claims: row.claims,
      });
    } finally {
      await procs.killAll();
      await receiver.stop();
    }
  });

  test('an endpoint down then up: attempts fail with the connection refused, then one delivery, the same webhook-id', async () => {
    const port = await freePort();
    const receiver = new WebhookReceiver();
    const server = await procs.server(store, { WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_DELAYS: '1s,1s,2s,2s,5s,10s' });
    try {
      await createWebhook(server, token, `http://127.0.0.1:${port}/hook`);
      const id = await exportId(server, token, { dataRange: { datasets: [dataset] }, limit: 10 });
      await waitForExport(server, token, id);
      const failed = await waitFor(async () => {
        const h = await historyOf(server, token, id);
        const f = h.filter((e) => e.type === 'WEBHOOK_FAILED');
        return f.length >= 2 ? f : undefined;
      }, 'two refused attempts', 30_000);
      expect(failed[0].message).toMatch(/attempt 1 ECONNREFUSED/);
      await receiver.start(port);
      const calls = await waitFor(async () => (receiver.calls.length ? receiver.calls : undefined), 'the delivery once the endpoint is up', 30_000);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(receiver.calls).toHaveLength(1);
      const rows = await outboxRows(store, id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ id: calls[0].headers['webhook-id'], state: 'DELIVERED' });
      const history = await historyOf(server, token, id);
      observed('endpoint down then up', { attempts: rows[0].attempts, deliveredAt: calls[0].at, history: history.map((e) => `${e.type}@${e.at}`) });
    } finally {
      await procs.killAll();
      await receiver.stop();
    }
  });

  test('SMTP down then up: the mail waits in the outbox and arrives once', async () => {
    const port = await freePort();
    const received: { at: number; subject?: string }[] = [];
    const smtp = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
      onData(stream, _session, callback) {
        simpleParser(stream).then((mail) => {
          received.push({ at: Date.now(), subject: mail.subject });
          callback();
        }, callback);
      },
    });
    const server = await procs.server(store, { SMTP_URL: `smtp://127.0.0.1:${port}`, WEBHOOK_RETRY_DELAYS: '1s,1s,2s,2s,5s,10s' });
    try {
      const id = await exportId(server, token, { name: 'mail me', dataRange: { datasets: [dataset] }, limit: 10, notify: { email: true } });
      await waitForExport(server, token, id);
      await waitFor(async () => (await historyOf(server, token, id)).filter((e) => e.type === 'EMAIL_FAILED').length >= 2 || undefined, 'two failed sends', 30_000);
      await new Promise<void>((resolve) => smtp.listen(port, '127.0.0.1', resolve));
      await waitFor(async () => received.length > 0 || undefined, 'the mail once SMTP is up', 30_000);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(received).toHaveLength(1);
      expect(received[0].subject).toBe('Sluice export "mail me" COMPLETED');
      const history = await historyOf(server, token, id);
      expect(history.filter((e) => e.type === 'EMAILED')).toHaveLength(1);
      expect(history.find((e) => e.type === 'EMAIL_FAILED')?.message).toMatch(/ECONNREFUSED|ESOCKET|ECONNECTION/);
      observed('SMTP down then up', { history: history.map((e) => `${e.type}@${e.at}${e.message ? `: ${e.message}` : ''}`) });
    } finally {
      await procs.killAll();
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  });
});
