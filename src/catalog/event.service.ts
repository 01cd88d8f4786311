import { setImmediate as nextTurn } from 'node:timers/promises';
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
const DEADLOCK_RETRIES = 3;

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
      if (attempt >= DEADLOCK_RETRIES || (code !== 'ER_LOCK_DEADLOCK' && code !== 'ER_LOCK_WAIT_TIMEOUT')) throw err;
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
    const stored = await storedIdentities(m, batch);
    if (stored.size) for (const row of batch) if (stored.has(row[ROW.identity].toString('hex'))) replaced.add(row[ROW.metric], row[ROW.ts]);
    await m.query(upsertSql(batch.length, sqlite), batch.flat());
    if (sqlite) await nextTurn();
  }
  await saveCounts(m, datasetId, counts, replaced, sqlite ? nextTurn : undefined);
  await DatasetService.touchMetricsWith(m, datasetId, lastUpdates, sqlite ? nextTurn : undefined);
}

/** Which of the batch's identities are stored already: those rows replace, they do not add. */
async function storedIdentities(m: EntityManager, batch: EventRow[]): Promise<Set<string>> {
  const found: { identity: Buffer }[] = await m.query(
    `SELECT identity FROM event WHERE identity IN (${batch.map(() => '?').join(',')})`,
    batch.map((r) => r[ROW.identity]),
  );
  return new Set(found.map((r) => Buffer.from(r.identity).toString('hex')));
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
