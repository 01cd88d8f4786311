import crypto from 'node:crypto';
import os from 'node:os';
import { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '../../db/transaction';
import { OutboxKind, OutboxMessageEntity } from '../../entities/outbox-message.entity';
import { logger } from '../../logger';

/** What one attempt at sending came to. `final` gives up at once (the webhook was removed, say). */
export interface SendOutcome {
  ok: boolean;
  status?: number | null;
  error?: string | null;
  final?: boolean;
}

/** Sends one kind of message; `settled` records the outcome in the same transaction as the outbox row. */
export interface OutboxHandler {
  /** How long a claim holds: longer than the longest send, so a live sender never loses its message. */
  leaseMs: number;
  send(msg: OutboxMessageEntity): Promise<SendOutcome>;
  settled(m: EntityManager, msg: OutboxMessageEntity, outcome: SendOutcome, next: { attempt: number; retryOn: number | null }): Promise<void>;
}

export interface NewMessage {
  kind: OutboxKind;
  exportId: string;
  userId: string;
  webhookId?: string | null;
  event: string;
  payload: string;
}

const POLL_MS = 1_000;
const MAX_IN_FLIGHT = 64;
/** One user's slow endpoints may hold this many sends of a process, never all of them. */
const MAX_IN_FLIGHT_PER_USER = 4;

/**
 * The durable outbox. Messages are written in the transaction of the change they announce, and any
 * server or worker sends them: claims are compare-and-set on (id, claims) with a lease, so two senders
 * never both hold one, a crashed sender's message is taken over when its lease runs out, and a failed
 * send waits out the next of WEBHOOK_RETRY_DELAYS. Each send runs on its own, so a slow endpoint only
 * ever holds its own message.
 */
export class Outbox {
  readonly owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  private readonly handlers = new Map<OutboxKind, OutboxHandler>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly perUser = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private again = false;
  private stopping = true;

  constructor(
    private readonly ds: DataSource,
    private readonly retryDelays: number[],
  ) {}

  handle(kind: OutboxKind, handler: OutboxHandler): void {
    this.handlers.set(kind, handler);
  }

  /** Inside the caller's transaction: the message exists exactly when the change it announces does. */
  async enqueue(m: EntityManager, msg: NewMessage): Promise<string> {
    const now = Date.now();
    const id = `msg_${crypto.randomUUID()}`;
    await m.getRepository(OutboxMessageEntity).insert({
      id, kind: msg.kind, state: 'PENDING', exportId: msg.exportId, userId: msg.userId, webhookId: msg.webhookId ?? null, event: msg.event,
      payload: msg.payload, attempts: 0, claims: 0, nextAttemptOn: now, leaseOwner: null, leaseExpires: null, lastStatus: null,
      lastError: null, deliveredOn: null, createdOn: now,
    });
    return id;
  }

  start(): void {
    if (!this.stopping) return;
    this.stopping = false;
    this.timer = setInterval(() => this.wake(), POLL_MS);
    this.wake();
    logger.info({ owner: this.owner }, 'outbox sender started');
  }

  /** Looks for due messages now (a change was just committed here) instead of at the next poll. */
  wake(): void {
    if (this.stopping) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    this.polling = this.poll()
      .catch((err: Error) => logger.warn({ err: err.message }, 'could not read the outbox'))
      .finally(() => {
        this.polling = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Stops claiming; sends in flight finish (each is bounded by its own timeout). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.polling;
    await Promise.all(this.inFlight.values());
  }

  private async poll(): Promise<void> {
    if (this.inFlight.size >= MAX_IN_FLIGHT) return;
    const now = Date.now();
    const due = await this.ds
      .getRepository(OutboxMessageEntity)
      .createQueryBuilder('o')
      .select(['o.id', 'o.claims', 'o.userId', 'o.kind'])
      .where("o.state = 'PENDING' AND o.next_attempt_on <= :now AND (o.lease_expires IS NULL OR o.lease_expires < :now)", { now })
      .orderBy('o.next_attempt_on', 'ASC')
      .limit(100)
      .getMany();
    for (const row of due) {
      if (this.stopping || this.inFlight.size >= MAX_IN_FLIGHT) break;
      if (this.inFlight.has(row.id) || (this.perUser.get(row.userId) ?? 0) >= MAX_IN_FLIGHT_PER_USER) continue;
      const handler = this.handlers.get(row.kind);
      if (!handler) continue; // a process that cannot send this kind leaves it to one that can
      const claimed = await this.claim(row, handler.leaseMs);
      if (claimed) this.run(claimed, handler);
    }
  }

  private async claim(row: Pick<OutboxMessageEntity, 'id' | 'claims'>, leaseMs: number): Promise<OutboxMessageEntity | null> {
    const now = Date.now();
    const res = await this.ds
      .getRepository(OutboxMessageEntity)
      .createQueryBuilder()
      .update()
      .set({ claims: row.claims + 1, leaseOwner: this.owner, leaseExpires: now + leaseMs })
      .where("id = :id AND claims = :claims AND state = 'PENDING' AND (lease_expires IS NULL OR lease_expires < :now)", { id: row.id, claims: row.claims, now })
      .execute();
    if (res.affected !== 1) return null;
    return this.ds.getRepository(OutboxMessageEntity).findOneBy({ id: row.id });
  }

  private run(msg: OutboxMessageEntity, handler: OutboxHandler): void {
    this.perUser.set(msg.userId, (this.perUser.get(msg.userId) ?? 0) + 1);
    const done = this.attempt(msg, handler).finally(() => {
      this.inFlight.delete(msg.id);
      const n = (this.perUser.get(msg.userId) ?? 1) - 1;
      if (n > 0) this.perUser.set(msg.userId, n);
      else this.perUser.delete(msg.userId);
      this.wake();
    });
    this.inFlight.set(msg.id, done);
  }

  private async attempt(msg: OutboxMessageEntity, handler: OutboxHandler): Promise<void> {
    let outcome: SendOutcome;
    try {
      outcome = await handler.send(msg);
    } catch (err) {
      outcome = { ok: false, error: (err as Error).message };
    }
    const attempt = msg.attempts + 1;
    const now = Date.now();
    const delay = this.retryDelays[attempt - 1];
    const retryOn = !outcome.ok && !outcome.final && delay !== undefined ? now + delay : null;
    const state = outcome.ok ? 'DELIVERED' : retryOn === null ? 'FAILED' : 'PENDING';
    try {
      await inTransaction(this.ds, async (m) => {
        const res = await m
          .getRepository(OutboxMessageEntity)
          .createQueryBuilder()
          .update()
          .set({
            state, attempts: attempt, lastStatus: outcome.status ?? null, lastError: outcome.ok ? null : (outcome.error ?? null)?.slice(0, 2000) ?? null,
            deliveredOn: outcome.ok ? now : null, nextAttemptOn: retryOn ?? now, leaseOwner: null, leaseExpires: null,
          })
          .where('id = :id AND claims = :claims', { id: msg.id, claims: msg.claims })
          .execute();
        // A sender whose lease ran out mid-send has been overtaken: the new holder's word counts, not ours.
        if (res.affected === 1) await handler.settled(m, msg, outcome, { attempt, retryOn });
      });
    } catch (err) {
      logger.warn({ err: (err as Error).message, message: msg.id }, 'could not record an outbox attempt; it is sent again when its lease runs out');
    }
    logger.info({ message: msg.id, kind: msg.kind, export: msg.exportId, attempt, ok: outcome.ok, status: outcome.status, error: outcome.error, retryOn }, 'outbox attempt');
  }
}
