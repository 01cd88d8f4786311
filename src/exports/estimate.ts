import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DataSource } from 'typeorm';
import { MICROS_PER_HOUR } from '../catalog/event-counts';
import { Dialect } from '../db/connection';
import { isStatementTimeout, mysqlBounded } from '../db/statement-bounds';
import { badRequest, ErrorCode, SluiceError } from '../errors';
import { logger } from '../logger';
import type { CountReply, CountRequest } from './count-thread';
import { datasetCondition, exportWhere, metricCondition, toMicros } from './export-query';
import { compileFilter } from './filter';
import { filterSize } from './filter-limits';
import { formatOf } from './formats';
import { ExportParams } from './params';
import { MARIADB_REGEX_WARNING, regexLimitMessage, regexPatternsOf } from './regex';

/** How long an exact filtered count may run before a sampled estimate stands in. */
const EXACT_BUDGET_MS = { mysql: 400, sqlite: 1000 };
/** How long any other statement of an estimate may run (the sample, the hourly sums, the edge hours). */
const STATEMENT_BUDGET_MS = 2000;
const SAMPLE_ROWS = 20_000;
/**
 * Rows times operators an estimate may test: a wide filter gets a smaller sample and skips the exact
 * count over many rows, so twelve estimates of a 999-term _or cost seconds of database CPU, not minutes.
 */
const WORK_BUDGET = 5_000_000;
/** Estimate statements running at once per process, so estimates never hold the whole pool. */
const MYSQL_SLOTS = 2;
/** How long an estimate waits for a free slot before the caller is told the server is busy. */
const SLOT_WAIT_MS = 5000;
/** A count thread that has not answered this long after its deadline is terminated and replaced. */
const THREAD_GRACE_MS = 1000;

function isEmptyFilter(filter: unknown): boolean {
  return filter === null || filter === undefined || (typeof filter === 'object' && Object.keys(filter as object).length === 0);
}

/** At most `size` holders at once; the others wait in order, at most `waitMs`. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(waitMs: number, fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else {
      let wake!: () => void;
      const got = new Promise<void>((r) => (wake = r));
      this.waiting.push(wake);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'busy'>((r) => (timer = setTimeout(() => r('busy'), waitMs)));
      const outcome = await Promise.race([got.then(() => 'got' as const), timeout]);
      clearTimeout(timer);
      if (outcome === 'busy') {
        const i = this.waiting.indexOf(wake);
        if (i >= 0) this.waiting.splice(i, 1);
        else this.release(); // woken just as the wait ran out: pass the slot on
        throw new SluiceError(ErrorCode.LIMIT_REACHED, `the server is busy with other estimates (waited ${waitMs / 1000} s for a turn); try again in a moment`);
      }
    }
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** Runs one estimate statement within a time bound; null when the bound stopped it. */
interface Counter {
  /** SQL to put first in a WHERE over `event`, so the store can stop the scan at its bound. */
  readonly guard: string;
  row(sql: string, params: unknown[], budgetMs: number, regex: boolean): Promise<Record<string, unknown> | null>;
}

/** MariaDB/MySQL: the statement carries its own time limit, so the database itself stops it. */
class MysqlCounter implements Counter {
  readonly guard = '';
  private readonly slots = new Slots(MYSQL_SLOTS);
  private mariadb?: Promise<boolean>;

  constructor(private readonly ds: DataSource) {}

  row(sql: string, params: unknown[], budgetMs: number, regex: boolean): Promise<Record<string, unknown> | null> {
    return this.slots.run(SLOT_WAIT_MS, async () => {
      this.mariadb ??= this.ds.query('SELECT VERSION() AS v').then((r) => /mariadb/i.test(String(r[0].v)));
      const runner = this.ds.createQueryRunner();
      try {
        let rows: Record<string, unknown>[];
        try {
          rows = await runner.query(mysqlBounded(sql, budgetMs, await this.mariadb), params);
        } catch (err) {
          if (isStatementTimeout(err)) return null;
          throw err;
        }
        // The same connection: warnings belong to its last statement.
        if (regex && (await runner.query('SHOW WARNINGS')).some((w: { Code: number }) => Number(w.Code) === MARIADB_REGEX_WARNING)) {
          throw new RegexLimitHit();
        }
        return rows[0];
      } finally {
        await runner.release();
      }
    });
  }
}

class RegexLimitHit extends Error {}

/** SQLite: the count runs in a thread of its own (never on the event loop), stopped at its deadline. */
class SqliteCounter implements Counter {
  readonly guard = 'sluice_deadline() AND ';
  private readonly slots = new Slots(1);
  private thread?: Worker;
  private nextId = 1;

  constructor(private readonly file: string) {}

  row(sql: string, params: unknown[], budgetMs: number): Promise<Record<string, unknown> | null> {
    return this.slots.run(SLOT_WAIT_MS, () => this.ask({ id: this.nextId++, sql, params, deadline: Date.now() + budgetMs }, budgetMs));
  }

  private ask(req: CountRequest, budgetMs: number): Promise<Record<string, unknown> | null> {
    const thread = this.start();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        thread.off('message', onMessage);
        thread.off('error', onError);
      };
      const onMessage = (reply: CountReply) => {
        if (reply.id !== req.id) return;
        done();
        if ('row' in reply) resolve(reply.row);
        else if ('timedOut' in reply) resolve(null);
        else reject(new Error(reply.error));
      };
      const onError = (err: Error) => {
        done();
        this.thread = undefined;
        reject(err);
      };
      // The statement stops itself at its deadline; a thread stuck past it is ended from here.
      const timer = setTimeout(() => {
        done();
        logger.warn({ budgetMs }, 'estimate count thread did not stop at its deadline; terminating it');
        this.thread = undefined;
        void thread.terminate();
        resolve(null);
      }, budgetMs + THREAD_GRACE_MS);
      thread.on('message', onMessage);
      thread.on('error', onError);
      thread.postMessage(req);
    });
  }

  private start(): Worker {
    if (!this.thread) {
      const thread = new Worker(path.join(__dirname, 'count-thread.js'), { workerData: { file: this.file }, resourceLimits: { maxOldGenerationSizeMb: 64 } });
      thread.unref();
      thread.on('exit', () => {
        if (this.thread === thread) this.thread = undefined;
      });
      this.thread = thread;
    }
    return this.thread;
  }
}

/**
 * Counts the records an export would have, fast on any size: whole hours come from the hourly counts
 * that ingest and seed keep, only the partial hours at the edges are counted in the event table. With
 * a filter the count is exact when it fits a time budget, else the unfiltered count times the share of
 * a sample that passes the filter. Every statement is bounded in time and stopped in the database at
 * its bound; on SQLite they run in a thread, so no estimate blocks the server.
 */
export class ExportEstimator {
  private readonly counter: Counter;

  constructor(
    ds: DataSource,
    private readonly dialect: Dialect,
  ) {
    this.counter = dialect === 'sqlite' ? new SqliteCounter(String(ds.options.database)) : new MysqlCounter(ds);
  }

  async count(params: ExportParams): Promise<{ records: number; exact: boolean }> {
    const unfiltered = await this.countUnfiltered(params);
    if (isEmptyFilter(params.filter) || unfiltered.records === 0) return unfiltered;
    const regex = regexPatternsOf(params.filter).length > 0;
    const perRow = Math.max(1, filterSize(params.filter).operators);
    try {
      const where = exportWhere(params, this.dialect);
      if (unfiltered.records * perRow <= WORK_BUDGET * 10) {
        const exact = await this.counter.row(`SELECT COUNT(*) AS n FROM event WHERE ${this.counter.guard}${where.sql}`, where.params, EXACT_BUDGET_MS[this.dialect], regex);
        if (exact) return { records: Number(exact.n), exact: unfiltered.exact };
      }
      const sampleRows = Math.max(500, Math.min(SAMPLE_ROWS, Math.floor(WORK_BUDGET / perRow)));
      const base = exportWhere(params, this.dialect, undefined, false);
      const filter = compileFilter(params.filter, this.dialect);
      const sample = await this.counter.row(
        `SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN ${filter.sql} THEN 1 ELSE 0 END), 0) AS m FROM (SELECT * FROM event WHERE ${this.counter.guard}${base.sql} LIMIT ${sampleRows}) AS sample`,
        [...filter.params, ...base.params],
        STATEMENT_BUDGET_MS,
        regex,
      );
      // Not even a sample in time: the unfiltered count is the honest upper bound.
      if (!sample) return { records: unfiltered.records, exact: false };
      const share = Number(sample.n) ? Number(sample.m) / Number(sample.n) : 0;
      return { records: Math.round(unfiltered.records * share), exact: false };
    } catch (err) {
      if (err instanceof RegexLimitHit) throw badRequest(regexLimitMessage(params.filter, true));
      throw err;
    }
  }

  /** Count of the range and metrics, ignoring the filter; inexact when a part ran out of time. */
  private async countUnfiltered(params: ExportParams): Promise<{ records: number; exact: boolean }> {
    const from = toMicros(params.from);
    const to = toMicros(params.to);
    const firstFull = from === null ? null : Math.ceil(from / MICROS_PER_HOUR);
    const endFull = to === null ? null : Math.floor(to / MICROS_PER_HOUR);
    let exact = true;
    const edge = async (a: number | null, b: number | null) => {
      const n = await this.countEvents(params, a, b);
      if (n === null) exact = false;
      return n ?? 0;
    };
    if (firstFull !== null && endFull !== null && firstFull >= endFull) return { records: await edge(from, to), exact }; // within one or two partial hours
    let total = 0;
    if (from !== null && firstFull! * MICROS_PER_HOUR > from) total += await edge(from, firstFull! * MICROS_PER_HOUR);
    if (to !== null && endFull! * MICROS_PER_HOUR < to) total += await edge(endFull! * MICROS_PER_HOUR, to);
    const ds = datasetCondition(params);
    const metrics = metricCondition(params);
    const parts = [ds.sql, ...(firstFull === null ? [] : ['hour >= ?']), ...(endFull === null ? [] : ['hour < ?']), ...(metrics ? [metrics.sql] : [])];
    const args = [...ds.params, ...(firstFull === null ? [] : [firstFull]), ...(endFull === null ? [] : [endFull]), ...(metrics?.params ?? [])];
    const row = await this.counter.row(`SELECT COALESCE(SUM(n), 0) AS n FROM event_count WHERE ${parts.join(' AND ')}`, args, STATEMENT_BUDGET_MS, false);
    if (!row) logger.warn('the hourly counts could not be summed in time; the estimate leaves them out');
    return { records: total + Number(row?.n ?? 0), exact: exact && row !== null };
  }

  private async countEvents(params: ExportParams, from: number | null, to: number | null): Promise<number | null> {
    const where = exportWhere(params, this.dialect, { from, to }, false);
    const row = await this.counter.row(`SELECT COUNT(*) AS n FROM event WHERE ${this.counter.guard}${where.sql}`, where.params, STATEMENT_BUDGET_MS, false);
    return row ? Number(row.n) : null;
  }
}

/** Bytes of the data file for that many records, in the export's format: a guide, not a promise. */
export function estimateBytes(params: ExportParams, records: number): number {
  return Math.round(records * formatOf(params).bytesPerRecord(params));
}
