import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { DataSource, EntityManager } from 'typeorm';
import { Config } from '../../config';
import { inTransaction } from '../../db/transaction';
import { OutboxMessageEntity } from '../../entities/outbox-message.entity';
import { UserEntity } from '../../entities/user.entity';
import { WebhookEntity } from '../../entities/webhook.entity';
import { badRequest, ErrorCode, notFound, SluiceError } from '../../errors';
import { AddressRefused, resolveWebhookHost } from './address-guard';
import { ExportEventType, ExportHistory } from './history';
import { OutboxHandler, SendOutcome } from './outbox';

export enum WebhookEventType {
  EXPORT_COMPLETED = 'EXPORT_COMPLETED',
  EXPORT_FAILED = 'EXPORT_FAILED',
  EXPORT_CANCELLED = 'EXPORT_CANCELLED',
}

export const ALL_WEBHOOK_EVENTS = Object.values(WebhookEventType);
export const MAX_WEBHOOKS_PER_USER = 10;
/** A 2xx within this long delivers a call; anything slower is a failed attempt. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
const MAX_URL_LENGTH = 2048;

export interface WebhookDelivery {
  id: string;
  event: string;
  exportId: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  deliveredOn: number | null;
  nextAttemptOn: number | null;
}

/** Standard Webhooks signature: HMAC-SHA256 of "<id>.<timestamp>.<body>", keyed with the secret's bytes. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${crypto.createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The user's webhooks: made, listed, removed; their deliveries read from the outbox. */
export class WebhookService {
  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
  ) {}

  /** Checks a URL a user gave: http(s), no credentials, and (unless allowed) a public host. */
  async checkUrl(raw: string): Promise<URL> {
    if (raw.length > MAX_URL_LENGTH) throw badRequest(`url has at most ${MAX_URL_LENGTH} characters`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw badRequest(`url "${raw}" is not a URL; give an absolute http:// or https:// URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest(`url must be http:// or https://, not ${url.protocol}//`);
    if (url.username || url.password) throw badRequest('url must not carry a user name or password; authenticate the call with its signature');
    try {
      await resolveWebhookHost(url.hostname, this.config.webhookAllowPrivate);
    } catch (err) {
      if (err instanceof AddressRefused) throw badRequest(`url refused: ${err.message}`);
      throw err;
    }
    return url;
  }

  async create(user: UserEntity, input: { url: string; events?: WebhookEventType[] | null }): Promise<{ webhook: WebhookEntity; secret: string }> {
    const url = await this.checkUrl(input.url.trim());
    const events = input.events?.length ? [...new Set(input.events)] : ALL_WEBHOOK_EVENTS;
    const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
    const webhook = Object.assign(new WebhookEntity(), {
      id: crypto.randomUUID(), userId: user.id, url: url.toString(), events: events.join(','), secret, createdOn: Date.now(),
    });
    await inTransaction(this.ds, async (m) => {
      // The user row lock makes count-then-insert hold under concurrent requests on MySQL.
      if (m.connection.options.type !== 'better-sqlite3') await m.query('SELECT id FROM `user` WHERE id = ? FOR UPDATE', [user.id]);
      const count = await m.getRepository(WebhookEntity).countBy({ userId: user.id });
      if (count >= MAX_WEBHOOKS_PER_USER) {
        throw new SluiceError(ErrorCode.LIMIT_REACHED, `you have ${count} webhooks; the limit is ${MAX_WEBHOOKS_PER_USER}. Remove one first.`);
      }
      await m.getRepository(WebhookEntity).insert(webhook);
    });
    return { webhook, secret };
  }

  list(userId: string): Promise<WebhookEntity[]> {
    return this.ds.getRepository(WebhookEntity).find({ where: { userId }, order: { createdOn: 'ASC', id: 'ASC' } });
  }

  async get(user: UserEntity, id: string): Promise<WebhookEntity> {
    const row = await this.ds.getRepository(WebhookEntity).findOneBy({ id, userId: user.id });
    if (!row) throw notFound(`webhook ${id} not found`);
    return row;
  }

  /** Deliveries still pending are given up when their webhook goes (the sender finds it gone). */
  async remove(user: UserEntity, id: string): Promise<WebhookEntity> {
    const row = await this.get(user, id);
    await this.ds.getRepository(WebhookEntity).delete({ id: row.id });
    return row;
  }

  /** The webhooks of a user that want this event, inside the transaction that announces it. */
  subscribers(m: EntityManager, userId: string, event: WebhookEventType): Promise<WebhookEntity[]> {
    return m
      .getRepository(WebhookEntity)
      .find({ where: { userId } })
      .then((all) => all.filter((w) => w.events.split(',').includes(event)));
  }

  async deliveries(webhookId: string, limit: number): Promise<WebhookDelivery[]> {
    const rows = await this.ds.getRepository(OutboxMessageEntity).find({
      where: { webhookId }, order: { createdOn: 'DESC', id: 'DESC' }, take: Math.min(Math.max(limit, 1), 100),
    });
    return rows.map((r) => ({
      id: r.id, event: r.event, exportId: r.exportId, attempts: r.attempts, lastStatus: r.lastStatus, lastError: r.lastError,
      deliveredOn: r.deliveredOn, nextAttemptOn: r.state === 'PENDING' ? r.nextAttemptOn : null,
    }));
  }
}

/** POSTs one stored webhook message, signed; used by the outbox on every attempt. */
export class WebhookSender implements OutboxHandler {
  readonly leaseMs = WEBHOOK_TIMEOUT_MS * 3;

  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
    private readonly history: ExportHistory,
  ) {}

  async send(msg: OutboxMessageEntity): Promise<SendOutcome> {
    const hook = msg.webhookId ? await this.ds.getRepository(WebhookEntity).findOneBy({ id: msg.webhookId }) : null;
    if (!hook) return { ok: false, final: true, error: 'the webhook was removed' };
    const url = new URL(hook.url);
    let target: { address: string; family: number };
    try {
      target = await resolveWebhookHost(url.hostname, this.config.webhookAllowPrivate);
    } catch (err) {
      if (err instanceof AddressRefused) return { ok: false, error: err.message };
      throw err;
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'sluice-webhooks/1',
      'webhook-id': msg.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(hook.secret, msg.id, timestamp, msg.payload),
      'content-length': String(Buffer.byteLength(msg.payload)),
    };
    return post(url, target, headers, msg.payload);
  }

  async settled(m: EntityManager, msg: OutboxMessageEntity, outcome: SendOutcome, next: { attempt: number; retryOn: number | null }): Promise<void> {
    const hook = msg.webhookId ? await m.getRepository(WebhookEntity).findOneBy({ id: msg.webhookId }) : null;
    const where = hook ? hook.url : `webhook ${msg.webhookId} (removed)`;
    if (outcome.ok) {
      await this.history.record(msg.exportId, ExportEventType.WEBHOOK_DELIVERED, `${msg.event} to ${where}: ${outcome.status} on attempt ${next.attempt} (webhook-id ${msg.id})`, m);
      return;
    }
    const why = outcome.status ? `answered ${outcome.status}` : (outcome.error ?? 'failed');
    const then = next.retryOn ? `; next attempt at ${new Date(next.retryOn).toISOString()}` : '; given up';
    await this.history.record(msg.exportId, ExportEventType.WEBHOOK_FAILED, `${msg.event} to ${where}: attempt ${next.attempt} ${why}${then}`, m);
  }
}

/** One POST to the address already checked; no redirects, at most WEBHOOK_TIMEOUT_MS in all. */
function post(url: URL, target: { address: string; family: number }, headers: Record<string, string>, body: string): Promise<SendOutcome> {
  return new Promise((resolve) => {
    const lib = url.protocol === 'https:' ? https : http;
    let settled = false;
    const finish = (o: SendOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    };
    const req = lib.request(
      url,
      {
        method: 'POST',
        headers,
        agent: false,
        // Connect to the address the guard approved, whatever DNS says by now (TLS still checks the name).
        lookup: (_host, _opts, cb) => cb(null, target.address, target.family),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        if (status >= 200 && status < 300) finish({ ok: true, status });
        else if (status >= 300 && status < 400) finish({ ok: false, status, error: `redirect to ${res.headers.location ?? '?'} not followed` });
        else finish({ ok: false, status, error: `HTTP ${status}` });
      },
    );
    const timer = setTimeout(() => finish({ ok: false, error: `no answer within ${WEBHOOK_TIMEOUT_MS / 1000} s` }), WEBHOOK_TIMEOUT_MS);
    req.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, error: `${err.code ?? 'error'}: ${err.message}` }));
    req.end(body);
  });
}
