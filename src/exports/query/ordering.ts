import type { Dialect } from '../../db/connection';
import type { SortOrder } from '../params';

/**
 * How an export's rows are picked and ordered beyond its WHERE: newest first (`order: DESC`) and one row
 * per series (`latest: true`, a series being a dataset, source and metric). Both are served by indexes:
 * DESC walks `idx_event_dataset_ts` backwards; latest skips from series to series through
 * `idx_event_series` (dataset_id, source, metric, ts, id) and seeks the newest event of each, so it reads
 * a few index entries per series, never every event.
 */

export interface SqlPart {
  sql: string;
  params: unknown[];
}

/** The stable order of an ordinary export; DESC reverses the tie-break too, so re-runs stay identical. */
export function eventOrder(order: SortOrder | undefined): string {
  return order === 'DESC' ? 'ts DESC, id DESC' : 'ts, id';
}

/** Latest rows come by series; the index sorts a missing source (NULL) first on both stores. */
export const SERIES_ORDER = 'dataset_id, source, metric';

/** Fields that are the same for every event of a series: a condition on them alone keeps or drops whole series. */
const SERIES_FIELDS = new Set(['dataset', 'source', 'metric']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onSeriesFieldsOnly(filter: unknown): boolean {
  if (!isObject(filter)) return false;
  return Object.entries(filter).every(([key, v]) =>
    key === '_and' || key === '_or' ? Array.isArray(v) && v.every(onSeriesFieldsOnly) : key === '_not' ? onSeriesFieldsOnly(v) : SERIES_FIELDS.has(key.trim()),
  );
}

/** The filter as the conditions all of which must hold: its keys, with `_and` lists flattened. */
function conjuncts(filter: Record<string, unknown>): unknown[] {
  return Object.entries(filter).flatMap(([key, v]) =>
    key === '_and' && Array.isArray(v) && v.every(isObject) ? v.flatMap((item) => conjuncts(item as Record<string, unknown>)) : [{ [key]: v }],
  );
}

/**
 * The part of a (valid) filter that only looks at dataset, source and metric, or null. Latest applies it
 * to the series before seeking into them: a series it rules out would otherwise be walked event by
 * event, all of them failing it. The whole filter still applies to the events.
 */
export function seriesFilter(filter: unknown): unknown | null {
  if (!isObject(filter)) return null;
  const parts = conjuncts(filter).filter(onSeriesFieldsOnly);
  return parts.length ? { _and: parts } : null;
}

export interface LatestParts {
  /** Every event the export may show (datasets, range, metrics, filter, snapshot), unqualified columns. */
  where: SqlPart;
  /** The datasets alone (the leading column of the index). */
  datasets: SqlPart;
  /** Range, metric and series-filter conditions, on index columns only: they narrow the series before any seek. */
  seriesWhere: SqlPart;
  /** What rules series out by their dataset, source and metric alone (metric selectors, series filter), or null. */
  seriesOnly: SqlPart | null;
}

/**
 * The id of each series' newest matching event, one row per series, in no particular order.
 *
 * MariaDB/MySQL: a loose index scan (`GROUP BY` the index prefix with `MAX(ts)`, "Using index for
 * group-by") yields each series with its newest timestamp in range; the event at that timestamp is one
 * seek (all four key parts equal). Only when that event fails the filter or the snapshot does a second
 * seek walk back through older ones. A correlated subquery could not use the range itself: the outer
 * values are unknown when MySQL plans the subquery's access, so it would read back from the series' end.
 *
 * SQLite has no loose index scan, so a recursive query makes one: each step seeks the next series
 * after the current one (next metric of the source, else next source, else next dataset), reading one
 * index entry per series. SQLite does use outer values as seek bounds, so the newest event is one seek.
 */
function latestIds(parts: LatestParts, dialect: Dialect, seriesLimit: number | null): SqlPart {
  const limit = seriesLimit === null ? '' : ` LIMIT ${seriesLimit}`;
  if (dialect === 'mysql') {
    const same = 'dataset_id = k.dataset_id AND source <=> k.source AND metric = k.metric';
    return {
      sql:
        `SELECT COALESCE(` +
        `(SELECT id FROM event WHERE ${same} AND ts = k.newest AND ${parts.where.sql} ORDER BY id DESC LIMIT 1), ` +
        `(SELECT id FROM event WHERE ${same} AND ts < k.newest AND ${parts.where.sql} ORDER BY ts DESC, id DESC LIMIT 1)) AS latest_id ` +
        `FROM (SELECT dataset_id, source, metric, MAX(ts) AS newest FROM event WHERE ${parts.seriesWhere.sql} ` +
        `GROUP BY ${SERIES_ORDER}${limit}) AS k`,
      params: [...parts.where.params, ...parts.where.params, ...parts.seriesWhere.params],
    };
  }
  const first = `ORDER BY ${SERIES_ORDER} LIMIT 1`;
  const next = (condition: string) => `(SELECT id FROM event WHERE ${condition} ${first})`;
  const only = parts.seriesOnly ? ` WHERE ${parts.seriesOnly.sql}` : '';
  return {
    sql:
      `WITH RECURSIVE series(id) AS (` +
      `SELECT ${next(parts.datasets.sql)} ` +
      `UNION ALL SELECT COALESCE(` +
      `${next('dataset_id = p.dataset_id AND source IS p.source AND metric > p.metric')}, ` +
      `${next('dataset_id = p.dataset_id AND source > p.source')}, ` +
      `${next('p.source IS NULL AND dataset_id = p.dataset_id AND source IS NOT NULL')}, ` +
      `${next(`${parts.datasets.sql} AND dataset_id > p.dataset_id`)}) ` +
      `FROM series JOIN event AS p ON p.id = series.id), ` +
      `k AS (SELECT * FROM (SELECT p.dataset_id, p.source, p.metric FROM series JOIN event AS p ON p.id = series.id)${only}${limit}) ` +
      `SELECT (SELECT id FROM event WHERE dataset_id = k.dataset_id AND source IS k.source AND metric = k.metric AND ${parts.where.sql} ` +
      `ORDER BY ts DESC, id DESC LIMIT 1) AS latest_id FROM k`,
    params: [...parts.datasets.params, ...parts.datasets.params, ...(parts.seriesOnly?.params ?? []), ...parts.where.params],
  };
}

/** The rows of a `latest: true` export: the newest matching event of each series, in series order. */
export function latestSelect(parts: LatestParts, columns: string[], dialect: Dialect, rowLimit: number): SqlPart {
  const ids = latestIds(parts, dialect, null);
  return {
    sql:
      `SELECT ${columns.join(', ')} FROM (SELECT e.* FROM (${ids.sql}) AS l JOIN event AS e ON e.id = l.latest_id) AS latest ` +
      `ORDER BY ${SERIES_ORDER} LIMIT ${rowLimit}`,
    params: ids.params,
  };
}

/**
 * How many rows a `latest: true` export has (`n`), and how many series were looked at (`series`). With
 * `seriesLimit`, only that many series are looked at, so the count's cost is bounded whatever the store
 * holds; `series` below the limit means `n` is the whole count.
 */
export function latestCount(parts: LatestParts, dialect: Dialect, seriesLimit: number | null = null): SqlPart {
  const ids = latestIds(parts, dialect, seriesLimit);
  return { sql: `SELECT COUNT(latest_id) AS n, COUNT(*) AS series FROM (${ids.sql}) AS l`, params: ids.params };
}
