import { DataSource } from 'typeorm';
import { inTransaction } from '../db/transaction';
import { DataExportEntity, ExportStatus, TERMINAL_STATUSES } from '../entities/data-export.entity';
import { LifecycleHooks, NO_HOOKS } from './delivery/delivery';

export interface UserActivity {
  busy: Set<string>;
  lastDone: Map<string, number>;
}

/**
 * Faults an export may meet before it is given up: a transient fault (the database connection lost or
 * killed) hands it back for another try, and a worker that stopped renewing its lease (crashed, frozen)
 * loses it to another; the third such fault FAILS it with a message, so it never goes round forever.
 * A graceful hand-back (SIGTERM during a rolling restart, a slot given up for another user) is no fault.
 */
export const MAX_FAULTS = 3;

/** A queued export that has waited this long with nothing of its user's generating may take a slot from a user holding two. */
const PREEMPT_AFTER_MS = 1_000;

export interface Claim {
  id: string;
  attempt: number;
  faults: number;
  userId: string;
  params: string;
  /** Already counted when queued (0 if not yet): the runner then need not count again. */
  recordsEstimate: number;
  /** When this attempt was claimed (epoch ms): EXPORT_MAX_RUNTIME counts from here. */
  startedOn: number;
}

type Candidate = Pick<DataExportEntity, 'id' | 'userId' | 'requestedOn' | 'attempt' | 'faults' | 'status'>;

/**
 * The export queue lives in the data_export table. Claims are compare-and-set updates on (id, attempt),
 * so two workers can never both win the same export, on SQLite and MySQL alike; every later write is
 * guarded by the attempt, so a worker that lost its lease cannot overwrite the attempt that took over.
 */
export class ExportQueue {
  constructor(
    private readonly ds: DataSource,
    /** History and outbox: an export's end is announced in the transaction that writes it. */
    readonly hooks: LifecycleHooks = NO_HOOKS,
  ) {}

  private repo() {
    return this.ds.getRepository(DataExportEntity);
  }

  /**
   * Queue order: first in, first out, but fair between users. An export's turn comes at the later of
   * its own request and its user's last finished export: a user who already had a turn since asking
   * goes behind those who asked meanwhile, and a user with an export generating goes behind everyone.
   * So one user's batch never holds back another user's single export, and otherwise FIFO holds.
   */
  static order<T extends { userId: string; requestedOn: number; id: string }>(queued: T[], users: UserActivity): T[] {
    const turn = (e: T) => (users.busy.has(e.userId) ? Infinity : Math.max(e.requestedOn, users.lastDone.get(e.userId) ?? 0));
    return [...queued].sort((a, b) => turn(a) - turn(b) || a.requestedOn - b.requestedOn || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Who has an export generating now, and when each queued user's last started export ended. */
  async userActivity(userIds: string[], now = Date.now()): Promise<UserActivity> {
    const busyRows: { userId: string }[] = await this.repo()
      .createQueryBuilder('e')
      .select('DISTINCT e.user_id', 'userId')
      .where('e.status = :s AND e.lease_expires >= :now', { s: ExportStatus.GENERATING, now })
      .getRawMany();
    const lastDone = new Map<string, number>();
    if (userIds.length) {
      const rows: { userId: string; last: string | number }[] = await this.repo()
        .createQueryBuilder('e')
        .select('e.user_id', 'userId')
        .addSelect('MAX(e.updated_on)', 'last')
        .where('e.user_id IN (:...users) AND e.status IN (:...done) AND e.started_on IS NOT NULL', { users: [...new Set(userIds)], done: TERMINAL_STATUSES })
        .groupBy('e.user_id')
        .getRawMany();
      for (const r of rows) lastDone.set(r.userId, Number(r.last));
    }
    return { busy: new Set(busyRows.map((r) => r.userId)), lastDone };
  }

  /**
   * Everything a worker may claim (queued, or generating on a lease that ran out), in the order claims
   * take them. The one rule behind both `claim` and `queuePositions`: all candidates are ordered, never
   * a window of the oldest, so the two always agree however long the queue is.
   */
  async ordered(now = Date.now()): Promise<Candidate[]> {
    const candidates = await this.repo()
      .createQueryBuilder('e')
      .select(['e.id', 'e.userId', 'e.requestedOn', 'e.attempt', 'e.faults', 'e.status'])
      .where('e.status = :q OR (e.status = :g AND e.lease_expires < :now)', { q: ExportStatus.QUEUING, g: ExportStatus.GENERATING, now })
      .getMany();
    if (!candidates.length) return [];
    return ExportQueue.order(candidates, await this.userActivity(candidates.map((c) => c.userId), now));
  }

  /**
   * Claims the next export: a queued one, or one whose worker stopped renewing its lease (a fault: it
   * counts). An export whose lease ran out on its last allowed fault is FAILED instead (reported through
   * `onGaveUp`): an export that brings down every worker that runs it must not go round the fleet forever.
   */
  async claim(
    owner: string,
    leaseMs: number,
    onGaveUp: (id: string, userId: string, attempt: number) => void = () => undefined,
    estimate?: (params: string) => Promise<number>,
  ): Promise<Claim | null> {
    for (let tries = 0; tries < 5; tries++) {
      const now = Date.now();
      const [next] = await this.ordered(now);
      if (!next) return null;
      const takeover = next.status === ExportStatus.GENERATING;
      if (takeover && next.faults + 1 >= MAX_FAULTS) {
        if (await this.giveUp(next, now)) onGaveUp(next.id, next.userId, next.attempt);
        continue;
      }
      // recordsEstimate is there before generation starts: if the count made at queuing has not landed
      // yet, it is made now and written by the same update that starts the export.
      const counted = estimate ? await this.estimateIfMissing(next.id, estimate) : null;
      const res = await this.repo()
        .createQueryBuilder()
        .update()
        .set({
          status: ExportStatus.GENERATING, attempt: next.attempt + 1, faults: next.faults + (takeover ? 1 : 0), leaseOwner: owner,
          leaseExpires: now + leaseMs, startedOn: now, updatedOn: now, recordsProcessed: 0, message: null,
          ...(counted ? { recordsEstimate: counted } : {}),
        })
        .where('id = :id AND attempt = :attempt AND (status = :q OR (status = :g AND lease_expires < :now))', {
          id: next.id, attempt: next.attempt, q: ExportStatus.QUEUING, g: ExportStatus.GENERATING, now,
        })
        .execute();
      if (res.affected === 1) {
        const row = await this.repo().findOneByOrFail({ id: next.id });
        if (next.status === ExportStatus.GENERATING) this.hooks.retried(row.id, `attempt ${next.attempt} stopped renewing its lease (its worker crashed, froze or lost the database); taken over`);
        this.hooks.started(row.id, row.attempt);
        return {
          id: row.id, attempt: row.attempt, faults: row.faults, userId: row.userId, params: row.params, recordsEstimate: row.recordsEstimate,
          startedOn: row.startedOn ?? now,
        };
      }
      // Another worker won this one; look again.
    }
    return null;
  }

  private async estimateIfMissing(id: string, estimate: (params: string) => Promise<number>): Promise<number | null> {
    const row = await this.repo().findOne({ select: ['params', 'recordsEstimate'], where: { id } });
    if (!row || row.recordsEstimate > 0) return null;
    return estimate(row.params).catch(() => null);
  }

  /** Fails an export whose last allowed attempt lost its lease; compare-and-set like a claim. */
  private giveUp(e: Pick<DataExportEntity, 'id' | 'attempt' | 'faults'>, now: number): Promise<boolean> {
    return inTransaction(this.ds, async (m) => {
      const res = await m
        .getRepository(DataExportEntity)
        .createQueryBuilder()
        .update()
        .set({
          status: ExportStatus.FAILED, faults: e.faults + 1, leaseOwner: null, leaseExpires: null, updatedOn: now,
          message: `export failed after ${e.faults + 1} faulty attempts: the worker generating it stopped answering (it crashed, was killed, or lost the database) before it finished`,
        })
        .where('id = :id AND attempt = :attempt AND status = :g AND lease_expires < :now', { id: e.id, attempt: e.attempt, g: ExportStatus.GENERATING, now })
        .execute();
      if (res.affected === 1) await this.hooks.ended(m, e.id);
      return res.affected === 1;
    });
  }

  /** When the next lease held by another worker runs out (null: none), so an idle worker can take over on time. */
  async nextLeaseExpiry(owner: string): Promise<number | null> {
    const row: { next: string | number | null } | undefined = await this.repo()
      .createQueryBuilder('e')
      .select('MIN(e.lease_expires)', 'next')
      .where('e.status = :g AND e.lease_owner <> :owner', { g: ExportStatus.GENERATING, owner })
      .getRawOne();
    return row?.next == null ? null : Number(row.next);
  }

  /**
   * Exports to hand back so that a user never holds more than one slot while another user waits with
   * nothing generating: for each such waiting user, the youngest extra export of a user holding two or
   * more. Every worker computes the same list from the same rows and hands back the ones it runs.
   */
  async slotsToFree(now = Date.now()): Promise<Set<string>> {
    const generating = await this.repo()
      .createQueryBuilder('e')
      .select(['e.id', 'e.userId', 'e.startedOn'])
      .where('e.status = :g AND e.lease_expires >= :now', { g: ExportStatus.GENERATING, now })
      .getMany();
    const byUser = new Map<string, DataExportEntity[]>();
    for (const e of generating) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), e]);
    const extras = [...byUser.values()]
      .filter((own) => own.length > 1)
      .flatMap((own) => own.sort((a, b) => (a.startedOn ?? 0) - (b.startedOn ?? 0) || (a.id < b.id ? -1 : 1)).slice(1));
    if (!extras.length) return new Set();
    const waiting: { userId: string }[] = await this.repo()
      .createQueryBuilder('e')
      .select('DISTINCT e.user_id', 'userId')
      .where('e.status = :q AND e.updated_on <= :since', { q: ExportStatus.QUEUING, since: now - PREEMPT_AFTER_MS })
      .getRawMany();
    const starved = waiting.filter((w) => !byUser.has(w.userId)).length;
    extras.sort((a, b) => (b.startedOn ?? 0) - (a.startedOn ?? 0) || (a.id < b.id ? 1 : -1));
    return new Set(extras.slice(0, starved).map((e) => e.id));
  }

  /** A write by the attempt that holds the export; false means it no longer does (cancelled, removed, taken over). */
  async guardedUpdate(claim: Pick<Claim, 'id' | 'attempt'>, changes: Partial<DataExportEntity>): Promise<boolean> {
    const write = async (repo: ReturnType<ExportQueue['repo']>) => {
      const res = await repo
        .createQueryBuilder()
        .update()
        .set({ ...changes, updatedOn: Date.now() })
        .where('id = :id AND attempt = :attempt AND status = :g', { id: claim.id, attempt: claim.attempt, g: ExportStatus.GENERATING })
        .execute();
      return res.affected === 1;
    };
    if (!changes.status || !TERMINAL_STATUSES.includes(changes.status)) return write(this.repo());
    return inTransaction(this.ds, async (m) => {
      const held = await write(m.getRepository(DataExportEntity));
      if (held) await this.hooks.ended(m, claim.id);
      return held;
    });
  }

  renew(claim: Claim, leaseMs: number, recordsProcessed?: number): Promise<boolean> {
    return this.guardedUpdate(claim, { leaseExpires: Date.now() + leaseMs, ...(recordsProcessed === undefined ? {} : { recordsProcessed }) });
  }

  /**
   * Hands an export back to the queue; the next claim is a new attempt. A graceful hand-back leaves the
   * fault count alone; `fault` (a transient database error) adds one, and is a retry in the history.
   */
  async release(claim: Claim, how: { fault?: boolean; message?: string | null } = {}): Promise<boolean> {
    const released = await this.guardedUpdate(claim, {
      status: ExportStatus.QUEUING, leaseOwner: null, leaseExpires: null, recordsProcessed: 0, startedOn: null,
      message: how.message ?? null, ...(how.fault ? { faults: claim.faults + 1 } : {}),
    });
    if (released && how.fault) this.hooks.retried(claim.id, how.message ?? 'a transient fault interrupted it; queued again');
    return released;
  }

  /** 1 = next to start, for each queued export: its place in the order `claim` takes them. */
  async queuePositions(): Promise<Map<string, number>> {
    const ordered = await this.ordered();
    const positions = new Map<string, number>();
    ordered.forEach((e, i) => {
      if (e.status === ExportStatus.QUEUING) positions.set(e.id, i + 1);
    });
    return positions;
  }
}
