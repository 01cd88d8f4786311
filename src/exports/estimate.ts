import { DataSource } from 'typeorm';
import { MICROS_PER_HOUR } from '../catalog/event-counts';
import { Dialect } from '../db/connection';
import { logger } from '../logger';
import { datasetCondition, exportWhere, latestParts, metricCondition, toMicros } from './export-query';
import { compileFilter } from './filter';
import { ExportParams } from './params';
import { latestCount } from './query/ordering';

/** How long an exact filtered count may run on MySQL before a sampled estimate stands in. */
const EXACT_BUDGET_MS = 400;
const SAMPLE_ROWS = 20_000;
/** SQLite filters about 5 million rows a second; this many stay well inside the budget. */
const SQLITE_EXACT_ROWS = 1_000_000;
/**
 * A latest count costs a few index seeks per series: this many series take about 100 ms on SQLite (on
 * the server's thread) and bound the work on MySQL too. Past it the count is a lower bound.
 */
const LATEST_SERIES = 20_000;
const LATEST_BUDGET_MS = 2000;

function isEmptyFilter(filter: unknown): boolean {
  return filter === null || filter === undefined || (typeof filter === 'object' && Object.keys(filter as object).length === 0);
}

/**
 * Counts the records an export would have, fast on any size: whole hours come from the hourly counts
 * that ingest and seed keep, only the partial hours at the edges are counted in the event table. With
 * a filter the count is exact when it fits a time budget, else the unfiltered count times the share of
 * a sample that passes the filter.
 */
export class ExportEstimator {
  private mariadb?: Promise<boolean>;

  constructor(
    private readonly ds: DataSource,
    private readonly dialect: Dialect,
  ) {}

  async count(params: ExportParams): Promise<{ records: number; exact: boolean }> {
    const unfiltered = await this.countUnfiltered(params);
    if (params.latest && unfiltered > 0) return this.countLatest(params, unfiltered);
    if (isEmptyFilter(params.filter) || unfiltered === 0) return { records: unfiltered, exact: true };
    const where = exportWhere(params, this.dialect);
    const exact = await this.countWithin(`SELECT COUNT(*) AS n FROM event WHERE ${where.sql}`, where.params, unfiltered);
    if (exact !== null) return { records: exact, exact: true };
    const base = exportWhere(params, this.dialect, undefined, false);
    const filter = compileFilter(params.filter, this.dialect);
    const [row] = await this.ds.query(
      `SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN ${filter.sql} THEN 1 ELSE 0 END), 0) AS m FROM (SELECT * FROM event WHERE ${base.sql} LIMIT ${SAMPLE_ROWS}) AS sample`,
      [...filter.params, ...base.params],
    );
    const share = Number(row.n) ? Number(row.m) / Number(row.n) : 0;
    return { records: Math.round(unfiltered * share), exact: false };
  }

  /** Exact count of the range and metrics, ignoring the filter. */
  private async countUnfiltered(params: ExportParams): Promise<number> {
    const from = toMicros(params.from);
    const to = toMicros(params.to);
    const firstFull = from === null ? null : Math.ceil(from / MICROS_PER_HOUR);
    const endFull = to === null ? null : Math.floor(to / MICROS_PER_HOUR);
    const edge = (a: number | null, b: number | null) => this.countEvents(params, a, b);
    if (firstFull !== null && endFull !== null && firstFull >= endFull) return edge(from, to); // within one or two partial hours
    let total = 0;
    if (from !== null && firstFull! * MICROS_PER_HOUR > from) total += await edge(from, firstFull! * MICROS_PER_HOUR);
    if (to !== null && endFull! * MICROS_PER_HOUR < to) total += await edge(endFull! * MICROS_PER_HOUR, to);
    const ds = datasetCondition(params);
    const metrics = metricCondition(params);
    const parts = [ds.sql, ...(firstFull === null ? [] : ['hour >= ?']), ...(endFull === null ? [] : ['hour < ?']), ...(metrics ? [metrics.sql] : [])];
    const args = [...ds.params, ...(firstFull === null ? [] : [firstFull]), ...(endFull === null ? [] : [endFull]), ...(metrics?.params ?? [])];
    const [row] = await this.ds.query(`SELECT COALESCE(SUM(n), 0) AS n FROM event_count WHERE ${parts.join(' AND ')}`, args);
    return total + Number(row.n);
  }

  /** Rows of a latest export: counted over at most LATEST_SERIES series; the unfiltered count if even that is too slow. */
  private async countLatest(params: ExportParams, unfiltered: number): Promise<{ records: number; exact: boolean }> {
    const count = latestCount(latestParts(params, this.dialect), this.dialect, LATEST_SERIES + 1);
    const row = this.dialect === 'sqlite' ? (await this.ds.query(count.sql, count.params))[0] : await this.firstRowWithin(count.sql, count.params, LATEST_BUDGET_MS);
    if (!row) return { records: unfiltered, exact: false };
    return { records: Number(row.n), exact: Number(row.series) <= LATEST_SERIES };
  }

  private async countEvents(params: ExportParams, from: number | null, to: number | null): Promise<number> {
    const where = exportWhere(params, this.dialect, { from, to }, false);
    const [row] = await this.ds.query(`SELECT COUNT(*) AS n FROM event WHERE ${where.sql}`, where.params);
    return Number(row.n);
  }

  /**
   * The count if it finishes within the budget. SQLite has no statement timeout and counts on the
   * server's own thread, so there the budget is a number of rows to scan instead.
   */
  private async countWithin(sql: string, params: unknown[], rowsToScan: number): Promise<number | null> {
    if (this.dialect === 'sqlite') return rowsToScan <= SQLITE_EXACT_ROWS ? Number((await this.ds.query(sql, params))[0].n) : null;
    const row = await this.firstRowWithin(sql, params, EXACT_BUDGET_MS);
    return row ? Number(row.n) : null;
  }

  /** MySQL only: the first row of a query if it finishes within `budgetMs`, else null. */
  private async firstRowWithin(sql: string, params: unknown[], budgetMs: number): Promise<Record<string, unknown> | null> {
    this.mariadb ??= this.ds.query('SELECT VERSION() AS v').then((r) => /mariadb/i.test(String(r[0].v)));
    const limited = (await this.mariadb)
      ? `SET STATEMENT max_statement_time = ${budgetMs / 1000} FOR ${sql}`
      : sql.replace(/^SELECT /, `SELECT /*+ MAX_EXECUTION_TIME(${budgetMs}) */ `);
    try {
      return (await this.ds.query(limited, params))[0];
    } catch (err) {
      const code = (err as { code?: string; errno?: number }).errno;
      if (code === 1969 || code === 3024) return null; // statement time exceeded
      logger.warn({ err: (err as Error).message }, 'exact count failed; estimating from a sample');
      return null;
    }
  }
}
