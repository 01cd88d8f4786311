import { Dialect } from '../db/connection';
import { canonicalSelector } from '../events/event-schema';
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

export interface SqlPart {
  sql: string;
  params: unknown[];
}

/** How many rows an export may write, and whether the user's cap (not the request) is what stops it. */
export function recordCap(params: ExportParams): { cap: number; capApplies: boolean } {
  const capApplies = params.limit === null || params.limit > params.maxRecords;
  return { cap: capApplies ? params.maxRecords : (params.limit as number), capApplies };
}

/** Epoch ms (API) to the µs the event table keeps; from and to both round up so ranges stay exact. */
export const toMicros = (ms: number | null) => (ms === null ? null : Math.ceil(ms * 1000));

/** `dataset_id IN (...)`: the condition on the leading column of the event index. */
export function datasetCondition(params: ExportParams): SqlPart {
  return { sql: `dataset_id IN (${params.datasetIds.map(() => '?').join(',')})`, params: [...params.datasetIds] };
}

/** The metric selectors (`name::type`, `*::type`) as one condition, or null for every metric. */
export function metricCondition(params: ExportParams): SqlPart | null {
  if (!params.metrics?.length) return null;
  // Stored under the type's own name (`boolean` -> `bool`), also for exports queued before the rename.
  const selectors = [...new Set(params.metrics.map((m) => canonicalSelector(m) ?? m))];
  const exact = selectors.filter((m) => !m.startsWith('*::'));
  const suffixes = selectors.filter((m) => m.startsWith('*::')).map((m) => m.slice(1));
  const any: string[] = [];
  const args: unknown[] = [];
  if (exact.length) {
    any.push(`metric IN (${exact.map(() => '?').join(',')})`);
    args.push(...exact);
  }
  for (const suffix of suffixes) {
    // Matching the suffix with substr keeps the comparison exact (LIKE is case-insensitive in SQLite).
    any.push(`substr(metric, -${suffix.length}) = ?`);
    args.push(suffix);
  }
  return { sql: `(${any.join(' OR ')})`, params: args };
}

/**
 * The WHERE of an export over [fromMicros, toMicros), with or without its filter expression. It holds the
 * snapshot rule: only events received up to the request (`tsReceived <= requestedOn`), whenever the
 * export runs; an event replaced after the request has its new tsReceived and is left out.
 */
export function exportWhere(params: ExportParams, dialect: Dialect, range = { from: toMicros(params.from), to: toMicros(params.to) }, withFilter = true): SqlPart {
  const parts: SqlPart[] = [datasetCondition(params)];
  if (range.from !== null) parts.push({ sql: 'ts >= ?', params: [range.from] });
  if (range.to !== null) parts.push({ sql: 'ts < ?', params: [range.to] });
  if (params.receivedUntil !== undefined) parts.push({ sql: 'ts_received <= ?', params: [params.receivedUntil] });
  const metrics = metricCondition(params);
  if (metrics) parts.push(metrics);
  if (withFilter) {
    const filter = compileFilter(params.filter, dialect);
    if (filter.sql !== '1=1') parts.push({ sql: `(${filter.sql})`, params: filter.params });
  }
  return { sql: parts.map((p) => p.sql).join(' AND '), params: parts.flatMap((p) => p.params) };
}

/** The one SELECT an export runs; the estimate counts with the same WHERE. */
export function buildExportQuery(params: ExportParams, columns: string[], dialect: Dialect): ExportQuery {
  const where = exportWhere(params, dialect);
  const { cap, capApplies } = recordCap(params);
  const rowLimit = capApplies ? cap + 1 : cap;
  return {
    select: `SELECT ${columns.join(', ')} FROM event WHERE ${where.sql} ORDER BY ts, id LIMIT ${rowLimit}`,
    count: `SELECT COUNT(*) AS n FROM event WHERE ${where.sql}`,
    params: where.params,
    rowLimit,
    capApplies,
  };
}
