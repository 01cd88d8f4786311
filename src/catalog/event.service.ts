import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { DataSource, EntityManager } from 'typeorm';
import { badRequest } from '../errors';
import { EVENT_COLUMNS, EventRow, REPLACED_COLUMNS, ROW } from '../events/event-schema';
import { OpenWrites } from '../exports/schedules/open-writes';
import { DatasetService } from './dataset.service';
import { HourlyCounts, ingestTotals, saveCounts } from './event-counts';
import { InputPrecision } from './events';
import { IngestError, prepareIngest } from './ingest-body';
import { IngestThread, PreparedIngest, withCheckpointInThread } from './ingest-threads';
import { Mutex } from '../mutex';

/** Rows per INSERT statement: well under SQLite's and MySQL's placeholder limits. */
const INSERT_BATCH = 500;
/** Bodies up to this size are checked right here: a thread hop would cost more than it saves. */
const INLINE_BYTES = 64 * 1024;
/**
 * Attempts of an ingest MariaDB chose as a deadlock's victim. Ingests that write the same new events in
 * different orders deadlock, and each round lets one of them through: ten such ingests at once can need
 * ten rounds. A short random pause keeps the survivors from meeting again in step.
 */
const DEADLOCK_ATTEMPTS = 10;
/** A lock wait that timed out has already waited innodb_lock_wait_timeout: retried, but not for long. */
const LOCK_WAIT_ATTEMPTS = 3;

export class EventService {
  private readonly thread = new IngestThread();
  /** Ingests within this process take turns: on SQLite they share one connection and must not interleave. */
  private readonly sqliteWrites = new Mutex();
  private readonly sqlite: boolean;
  private readonly openWrites: OpenWrites;

  constructor(
    private readonly ds: DataSource,
    private readonly datasets: DatasetService,
  ) {
    this.sqlite = ds.options.type === 'better-sqlite3';
    this.openWrites = new OpenWrites(ds);
  }

  /**
   * All or nothing: every event is checked before anything is written, then all go in one transaction.
   * An event whose identity is stored already replaces it (last write wins); the hourly counts grow only
   * by the events that are new.
   */
  async ingest(datasetId: number, body: Buffer, precision: InputPrecision): Promise<number> {
    // Registered before tsReceived is stamped, so incremental schedule cutoffs stay behind this write until it commits.
    const write = await this.openWrites.begin();
    try {
      const received = write.received;
      // Known before the thread takes the body over (it reads as empty afterwards).
      const large = body.length > INLINE_BYTES;
      let prepared: PreparedIngest;
      try {
        if (large) prepared = await this.thread.prepare(body, datasetId, precision, received);
        else {
          const rows = prepareIngest(body, datasetId, precision, received);
          prepared = { rows, ...ingestTotals(rows) };
        }
      } catch (err) {
        if (err instanceof IngestError) throw badRequest(err.message);
        throw err;
      }
      const commit = async (m: EntityManager) => {
        await writeRows(m, datasetId, prepared, this.sqlite);
        await write.confirm(m);
      };
      // A large body's commit leaves the WAL checkpoint to the ingest thread (up to 260 ms on the loop).
      if (this.sqlite) await this.sqliteWrites.run(() => (large ? withCheckpointInThread(this.ds, this.thread, () => this.ds.transaction(commit)) : this.ds.transaction(commit)));
      else await withDeadlockRetry(() => this.ds.transaction(commit));
      return prepared.rows.length;
    } finally {
      await write.end();
    }
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}

async function withDeadlockRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { driverError?: { code?: string }; code?: string }).driverError?.code ?? (err as { code?: string }).code;
      if (code === 'ER_LOCK_DEADLOCK' && attempt < DEADLOCK_ATTEMPTS) await sleep(Math.random() * 5 * attempt);
      else if (!(code === 'ER_LOCK_WAIT_TIMEOUT' && attempt < LOCK_WAIT_ATTEMPTS)) throw err;
    }
  }
}

/**
 * Writes checked rows in batches. On SQLite each batch runs synchronously on the server's thread, so
 * the loop gets a turn between batches to answer other requests.
 */
async function writeRows(m: EntityManager, datasetId: number, { rows, counts, lastUpdates }: PreparedIngest, sqlite: boolean): Promise<void> {
  // Rows that replace a stored event were counted when it was stored: taken back out of the totals.
  const replaced = new HourlyCounts();
  for (let i = 0; i < rows.length; i += INSERT_BATCH) {
    const batch = rows.slice(i, i + INSERT_BATCH);
    const replacedNow = sqlite ? await upsertSqlite(m, batch) : await upsertMysql(m, batch);
    if (replacedNow.size) for (const row of batch) if (replacedNow.has(row[ROW.identity].toString('hex'))) replaced.add(row[ROW.metric], row[ROW.ts]);
    if (sqlite) await nextTurn();
  }
  await saveCounts(m, datasetId, counts, replaced, sqlite ? nextTurn : undefined);
  await DatasetService.touchMetricsWith(m, datasetId, lastUpdates, sqlite ? nextTurn : undefined);
}

/**
 * SQLite: which identities are stored is read first, then the batch is written. No other write counts in
 * between: this process's ingests take turns (sqliteWrites), and a write of another process after the
 * read makes this transaction's write fail (its WAL snapshot is stale) rather than count an event twice.
 * Returns the identities (hex) that replaced a stored event.
 */
async function upsertSqlite(m: EntityManager, batch: EventRow[]): Promise<Set<string>> {
  const found: { identity: Buffer }[] = await m.query(
    `SELECT identity FROM event WHERE identity IN (${batch.map(() => '?').join(',')})`,
    batch.map((r) => r[ROW.identity]),
  );
  await m.query(upsertSql(batch.length, true), batch.flat());
  return new Set(found.map((r) => Buffer.from(r.identity).toString('hex')));
}

/**
 * MariaDB: the upsert itself says which rows replaced a stored event, since a read before it cannot: two
 * transactions posting the same new event would both read "not stored" and both count it. The upsert
 * meets a row another transaction is inserting, waits for that one to commit and then takes the update
 * path, which notes the identity in a session variable. Returns the identities (hex) that replaced one.
 */
async function upsertMysql(m: EntityManager, batch: EventRow[]): Promise<Set<string>> {
  await m.query("SET @sluice_replaced = ''");
  await m.query(`${upsertSql(batch.length, false)}, identity = IF((@sluice_replaced := CONCAT(@sluice_replaced, HEX(identity), ',')) = '', identity, identity)`, batch.flat());
  const [{ replaced }]: { replaced: string | Buffer }[] = await m.query('SELECT @sluice_replaced AS replaced');
  return new Set(String(replaced).toLowerCase().split(',').filter(Boolean));
}

export function insertSql(rowCount: number): string {
  const one = `(${EVENT_COLUMNS.map(() => '?').join(',')})`;
  return `INSERT INTO event (${EVENT_COLUMNS.join(',')}) VALUES ${Array(rowCount).fill(one).join(',')}`;
}

/** INSERT that replaces the stored event of the same identity (its id, so its place in exports, stays). */
export function upsertSql(rowCount: number, sqlite: boolean): string {
  const replace = sqlite
    ? `ON CONFLICT (identity) DO UPDATE SET ${REPLACED_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`
    : `ON DUPLICATE KEY UPDATE ${REPLACED_COLUMNS.map((c) => `${c} = VALUES(${c})`).join(', ')}`;
  return `${insertSql(rowCount)} ${replace}`;
}

/** Newest timestamp (ms) per metric among the rows. */
export function lastUpdates(rows: EventRow[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const row of rows) {
    const ms = Math.floor(row[ROW.ts] / 1000);
    if ((out.get(row[ROW.metric]) ?? -Infinity) < ms) out.set(row[ROW.metric], ms);
  }
  return out;
}
