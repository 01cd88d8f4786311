import crypto from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { nowMicros } from '../../clock';
import { ErrorCode, SluiceError } from '../../errors';

/**
 * A write registered before it takes longer than this is taken for dead (its process crashed) and no
 * longer holds incremental cutoffs back; if it still tries to commit, it is refused and rolled back.
 */
export const OPEN_WRITE_STALE_US = 10 * 60 * 1_000_000;

/**
 * The watermark behind which every ingest has committed. Commit order is not arrival order: an ingest
 * stamps its events' tsReceived, then may commit after a later ingest did. So a write registers itself
 * (committed, in its own statement) before it stamps tsReceived, and removes itself once committed; an
 * incremental cutoff is then kept below the oldest registered write. An event with tsReceived <= cutoff
 * is therefore already visible: its write either was registered (and the cutoff is below it) or
 * registered after the cutoff was read, and so stamped a later tsReceived.
 */
export class OpenWrites {
  constructor(private readonly ds: DataSource) {}

  /** Registers a write; `received` is the tsReceived (µs) its events get, taken after the registration committed. */
  async begin(): Promise<OpenWrite> {
    const id = crypto.randomUUID();
    await this.ds.query('INSERT INTO open_write (id, started, committing) VALUES (?, ?, 0)', [id, nowMicros()]);
    return new OpenWrite(this.ds, id, nowMicros());
  }

  /**
   * The highest tsReceived (µs) a run may take as its cutoff now: everything at or below it is committed.
   * Reads outside any transaction, so it sees every registration committed before it.
   */
  async cutoff(): Promise<number> {
    const now = nowMicros();
    // Found by a plain read, deleted by key: a range DELETE would lock gaps on MySQL and queue new writes behind it.
    const stale: { id: string }[] = await this.ds.query('SELECT id FROM open_write WHERE started < ?', [now - OPEN_WRITE_STALE_US]);
    if (stale.length) await this.ds.query(`DELETE FROM open_write WHERE id IN (${stale.map(() => '?').join(',')})`, stale.map((r) => r.id));
    const [row] = await this.ds.query('SELECT MIN(started) AS oldest FROM open_write');
    const oldest = row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest);
    return oldest === null ? now : Math.min(now, oldest - 1);
  }
}

export class OpenWrite {
  constructor(
    private readonly ds: DataSource,
    private readonly id: string,
    readonly received: number,
  ) {}

  /**
   * Inside the write's transaction, just before it commits: proves the registration still stands (and
   * locks it, so it cannot be swept until the commit). A write swept as stale is rolled back instead.
   */
  async confirm(m: EntityManager): Promise<void> {
    if (!m.queryRunner) throw new Error('OpenWrite.confirm needs the write\'s transaction');
    const res = await m.queryRunner.query('UPDATE open_write SET committing = 1 WHERE id = ?', [this.id], true);
    if (res.affected === 0) {
      throw new SluiceError(ErrorCode.CONFLICT, `the write took over ${OPEN_WRITE_STALE_US / 60_000_000} minutes and was not stored; send it again`);
    }
  }

  /** After the commit (or rollback): the write no longer holds cutoffs back. */
  async end(): Promise<void> {
    await this.ds.query('DELETE FROM open_write WHERE id = ?', [this.id]);
  }
}
