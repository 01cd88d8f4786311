import { DataSource } from 'typeorm';
import { DataExportEntity, ExportStatus, TERMINAL_STATUSES } from '../entities/data-export.entity';

export interface UserActivity {
  busy: Set<string>;
  lastDone: Map<string, number>;
}

/**
 * Claims an export may have before it is given up: a transient fault (the database connection lost or
 * killed) hands it back for another try, and a worker that stopped renewing its lease (crashed, frozen)
 * loses it to another; after this many claims it is FAILED with a message instead, never retried forever.
 */
export const MAX_ATTEMPTS = 3;

export interface Claim {
  id: string;
  attempt: number;
  userId: string;
  params: string;
  /** Already counted when queued (0 if not yet): the runner then need not count again. */
  recordsEstimate: number;
}

/**
 * The export queue lives in the data_export table. Claims are compare-and-set updates on (id, attempt),
 * so two workers can never both win the same export, on SQLite and MySQL alike; every later write is
 * guarded by the attempt, so a worker that lost its lease cannot overwrite the attempt that took over.
 */
export class ExportQueue {
  constructor(private readonly ds: DataSource) {}

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
   * Claims the next export: a queued one, or one whose worker stopped renewing its lease. An export whose
   * lease ran out on its last allowed attempt is FAILED instead (reported through `onGaveUp`): an export
   * that brings down every worker that runs it must not go round the fleet forever.
   */
  async claim(
    owner: string,
    leaseMs: number,
    onGaveUp: (id: string, userId: string, attempt: number) => void = () => undefined,
    estimate?: (params: string) => Promise<number>,
  ): Promise<Claim | null> {
    for (let tries = 0; tries < 5; tries++) {
      const now = Date.now();
      const candidates = await this.repo()
        .createQueryBuilder('e')
        .select(['e.id', 'e.userId', 'e.requestedOn', 'e.attempt', 'e.status'])
        .where('e.status = :q OR (e.status = :g AND e.lease_expires < :now)', { q: ExportStatus.QUEUING, g: ExportStatus.GENERATING, now })
        .orderBy('e.requested_on', 'ASC')
        .addOrderBy('e.id', 'ASC')
        .limit(100)
        .getMany();
      if (!candidates.length) return null;
      const [next] = ExportQueue.order(candidates, await this.userActivity(candidates.map((c) => c.userId), now));
      if (next.status === ExportStatus.GENERATING && next.attempt >= MAX_ATTEMPTS) {
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
          status: ExportStatus.GENERATING, attempt: next.attempt + 1, leaseOwner: owner, leaseExpires: now + leaseMs,
          startedOn: now, updatedOn: now, recordsProcessed: 0, message: null, ...(counted ? { recordsEstimate: counted } : {}),
        })
        .where('id = :id AND attempt = :attempt AND (status = :q OR (status = :g AND lease_expires < :now))', {
          id: next.id, attempt: next.attempt, q: ExportStatus.QUEUING, g: ExportStatus.GENERATING, now,
        })
        .execute();
      if (res.affected === 1) {
        const row = await this.repo().findOneByOrFail({ id: next.id });
        return { id: row.id, attempt: row.attempt, userId: row.userId, params: row.params, recordsEstimate: row.recordsEstimate };
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
  private async giveUp(e: Pick<DataExportEntity, 'id' | 'attempt'>, now: number): Promise<boolean> {
    const res = await this.repo()
      .createQueryBuilder()
      .update()
      .set({
        status: ExportStatus.FAILED, leaseOwner: null, leaseExpires: null, updatedOn: now,
        message: `export failed after ${e.attempt} attempts: each time, the worker generating it stopped answering (it crashed, was stopped, or lost the database) before it finished`,
      })
      .where('id = :id AND attempt = :attempt AND status = :g AND lease_expires < :now', { id: e.id, attempt: e.attempt, g: ExportStatus.GENERATING, now })
      .execute();
    return res.affected === 1;
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

  /** A write by the attempt that holds the export; false means it no longer does (cancelled, removed, taken over). */
  async guardedUpdate(claim: Claim, changes: Partial<DataExportEntity>): Promise<boolean> {
    const res = await this.repo()
      .createQueryBuilder()
      .update()
      .set({ ...changes, updatedOn: Date.now() })
      .where('id = :id AND attempt = :attempt AND status = :g', { id: claim.id, attempt: claim.attempt, g: ExportStatus.GENERATING })
      .execute();
    return res.affected === 1;
  }

  renew(claim: Claim, leaseMs: number, recordsProcessed?: number): Promise<boolean> {
    return this.guardedUpdate(claim, { leaseExpires: Date.now() + leaseMs, ...(recordsProcessed === undefined ? {} : { recordsProcessed }) });
  }

  /** Hands an export back to the queue (graceful stop, transient fault); the next claim is a new attempt. */
  release(claim: Claim, message: string | null = null): Promise<boolean> {
    return this.guardedUpdate(claim, { status: ExportStatus.QUEUING, leaseOwner: null, leaseExpires: null, recordsProcessed: 0, startedOn: null, message });
  }

  /** 1 = next to start, for each queued export, in the same order `claim` takes them. */
  async queuePositions(): Promise<Map<string, number>> {
    const queued = await this.repo().find({ select: ['id', 'userId', 'requestedOn'], where: { status: ExportStatus.QUEUING } });
    const ordered = ExportQueue.order(queued, await this.userActivity(queued.map((e) => e.userId)));
    return new Map(ordered.map((e, i) => [e.id, i + 1]));
  }
}
