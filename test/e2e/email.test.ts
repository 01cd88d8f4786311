import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { simpleParser, ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { STORE, TestServer, TestStore, waitFor, waitForExport } from './harness';
import { CREATE_EXPORT, createExport, freePort, historyOf } from './delivery-support';

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** A real SMTP server on a free port: keeps every message it accepts; refuses the first `refuse` of them with 451. */
class MailSink {
  readonly received: { at: number; mail: ParsedMail; envelope: { from: string; to: string[] } }[] = [];
  readonly refusals: number[] = [];
  refuse = 0;
  port = 0;
  private readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (this.refuse > 0) {
          this.refuse--;
          this.refusals.push(Date.now());
          const err = new Error('mailbox busy, try again later') as Error & { responseCode: number };
          err.responseCode = 451;
          callback(err);
          return;
        }
        const envelope = { from: (session.envelope.mailFrom as { address: string }).address, to: session.envelope.rcptTo.map((r) => r.address) };
        simpleParser(Buffer.concat(chunks)).then((mail) => {
          this.received.push({ at: Date.now(), mail, envelope });
          callback();
        }, callback);
      });
    },
  });

  async start(): Promise<void> {
    this.port = await freePort();
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe(`e-mail on ${STORE}`, () => {
  const store = new TestStore();
  const sink = new MailSink();
  let server: TestServer;
  let port: number;
  let token: string;
  let dataset: string;
  const start = async (extra: Record<string, string> = {}) => {
    port = await freePort();
    server = new TestServer(store, { PORT: String(port), SMTP_URL: `smtp://127.0.0.1:${sink.port}`, MAIL_FROM: 'Sluice <exports@sluice.test>', WEBHOOK_RETRY_DELAYS: '1s,1s,1s', ...extra });
    await server.start();
  };

  beforeAll(async () => {
    await store.create();
    ({ token, dataset } = await store.seededUser('mia@example.com', 20_000));
    await sink.start();
  });

  afterAll(async () => {
    await server?.stop();
    await sink.stop();
    await store.drop();
  });

  test('asking for e-mail on a server without SMTP_URL is BAD_REQUEST', async () => {
    server = new TestServer(store);
    await server.start();
    const answer = await server.data(CREATE_EXPORT, { input: { dataRange: { datasets: [dataset] }, notify: { email: true } } }, token);
    expect(answer.createExport).toEqual({ responseCode: 'BAD_REQUEST', message: 'e-mail is not configured on this server (SMTP_URL)', item: null });
    await server.stop();
  });

  test('a completed export mails its owner: the subject names it, the link downloads it, the attachment is the file', async () => {
    await start();
    const id = await createExport(server, token, { name: 'weekly readings', dataRange: { datasets: [dataset] }, notify: { email: true } });
    const done = await waitForExport(server, token, id);
    const [{ mail, envelope }] = await waitFor(async () => (sink.received.length ? sink.received : undefined), 'the e-mail');
    expect(envelope).toEqual({ from: 'exports@sluice.test', to: ['mia@example.com'] });
    expect(mail.subject).toBe('Sluice export "weekly readings" COMPLETED');
    expect(mail.text).toContain(`Records: 20000`);
    expect(mail.text).toContain(`SHA-256: ${done.result.sha256}`);
    const link = /^(http:\/\/localhost:\d+\/api\/v3\/data\/exports\/\S+)$/m.exec(mail.text ?? '')?.[1] as string;
    expect(link).toContain(`/api/v3/data/exports/${id}?token=`);
    const file = await fetch(link.replace('localhost', '127.0.0.1'), { headers: { 'accept-encoding': 'identity' } });
    expect(file.status).toBe(200);
    expect(sha256(Buffer.from(await file.arrayBuffer()))).toBe(done.result.sha256);
    expect(mail.attachments).toHaveLength(1);
    const [attachment] = mail.attachments;
    expect(attachment.filename).toBe('weekly readings.csv.gz');
    expect(attachment.size).toBe(done.result.compressedSizeInBytes);
    expect(sha256(zlib.gunzipSync(attachment.content))).toBe(done.result.sha256);
    const history = await waitFor(async () => {
      const h = await historyOf(server, token, id);
      return h.some((e) => e.type === 'EMAILED') ? h : undefined;
    }, 'EMAILED');
    expect(history.find((e) => e.type === 'EMAILED')?.message).toBe('to mia@example.com on attempt 1');
    console.log(`[${STORE}] e-mail received: ${JSON.stringify({ subject: mail.subject, envelope, text: mail.text, attachments: mail.attachments.map((a) => ({ filename: a.filename, size: a.size, contentType: a.contentType })) })}`);
    await server.stop();
  });

  test('a mail server that refuses the first attempts gets the mail later, once; a file over MAIL_ATTACHMENT_MAX goes as a link alone', async () => {
    sink.received.length = 0;
    sink.refuse = 2;
    await start({ MAIL_ATTACHMENT_MAX: '1kb' });
    const id = await createExport(server, token, { dataRange: { datasets: [dataset] }, notify: { email: true } });
    const done = await waitForExport(server, token, id);
    const [{ mail }] = await waitFor(async () => (sink.received.length ? sink.received : undefined), 'the e-mail after two refusals', 30_000);
    expect(sink.refusals).toHaveLength(2);
    expect(mail.subject).toBe(`Sluice export ${id} COMPLETED`);
    expect(mail.attachments).toHaveLength(0);
    expect(mail.text).toContain(`is larger than this server attaches (MAIL_ATTACHMENT_MAX): use the link.`);
    expect(mail.text).toContain(`SHA-256: ${done.result.sha256}`);
    const history = await historyOf(server, token, id);
    expect(history.map((e) => e.type)).toEqual(['QUEUED', 'STARTED', 'COMPLETED', 'EMAIL_FAILED', 'EMAIL_FAILED', 'EMAILED']);
    expect(history[3].message).toMatch(/^to mia@example.com: attempt 1 failed: .*451.*next attempt at /);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(sink.received).toHaveLength(1); // once
    console.log(`[${STORE}] refused twice then sent: refusals at ${JSON.stringify(sink.refusals)}, accepted at ${sink.received[0].at}; history ${JSON.stringify(history)}`);
  });
});
