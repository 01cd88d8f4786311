import { Dialect } from '../db/data-source';
import { compileFilter } from './filter';
import { ExportParams } from './params';

export interface ExportQuery {
  /** The rows, in the stable order that makes two exports of the same data byte-identical. */
  select: string;
  count: string;
  params: unknown[];
  /** Rows to read at most: the request's limit and the user's record cap, plus one to tell a cap was hit. */
  rowLimit: number;
  /** The user's cap applies (it is below the request's own limit), so reading cap+1 rows means truncated. */
  capApplies: boolean;
}

/** How many rows an export may write, and whether the user's cap (not the request) is what stops it. */
export function recordCap(params: ExportParams): { cap: number; capApplies: boolean } {
  const capApplies = params.limit === null || params.limit > params.maxRecords;
  return { cap: capApplies ? params.maxRecords : (params.limit as number), capApplies };
}

/** The one SELECT an export runs; the estimate counts with the same WHERE. */
export function buildExportQuery(params: ExportParams, columns: string[], dialect: Dialect): ExportQuery {
  const where: string[] = [`dataset_id IN (${params.datasetIds.map(() => '?').join(',')})`];
  const args: unknown[] = [...params.datasetIds];
  if (params.from !== null) {
    where.push('ts >= ?');
    args.push(Math.ceil(params.from * 1000));
  }
  if (params.to !== null) {
    where.push('ts < ?');
    args.push(Math.ceil(params.to * 1000));
  }
  if (params.metrics && params.metrics.length) {
    const exact = params.metrics.filter((m) => !m.startsWith('*::'));
    const types = params.metrics.filter((m) => m.startsWith('*::')).map((m) => m.slice(1));
    const any: string[] = [];
    if (exact.length) {
      any.push(`metric IN (${exact.map(() => '?').join(',')})`);
      args.push(...exact);
    }
    for (const suffix of types) {
      // Matching the suffix with substr keeps the comparison exact (LIKE is case-insensitive in SQLite).
      any.push(`substr(metric, -${suffix.length}) = ?`);
      args.push(suffix);
    }
    where.push(`(${any.join(' OR ')})`);
  }
  const filter = compileFilter(params.filter, dialect);
  if (filter.sql !== '1=1') {
    where.push(`(${filter.sql})`);
    args.push(...filter.params);
  }
  const { cap, capApplies } = recordCap(params);
  const rowLimit = capApplies ? cap + 1 : cap;
  const whereSql = where.join(' AND ');
  return {
    select: `SELECT ${columns.join(', ')} FROM event WHERE ${whereSql} ORDER BY ts, id LIMIT ${rowLimit}`,
    // A plain COUNT walks the index; wrapping it in a LIMITed derived table makes MariaDB materialise it.
    count: `SELECT COUNT(*) AS n FROM event WHERE ${whereSql}`,
    params: args,
    rowLimit,
    capApplies,
  };
}
