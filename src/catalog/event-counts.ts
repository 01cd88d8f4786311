import { EntityManager } from 'typeorm';
import { EventRow, ROW } from '../events/event-schema';

export const MICROS_PER_HOUR = 3_600_000_000;
/** Buckets per upsert statement. */
const COUNT_BATCH = 300;

/** One event_count bucket: [metric, hour, n]. */
export type HourBucket = [string, number, number];
/** One dataset_metric update: [metric, newest timestamp in ms]. */
export type MetricUpdate = [string, number];

/**
 * What an ingest adds to event_count and dataset_metric, in the order they are written (concurrent
 * ingests lock buckets and metrics in one order, so they do not deadlock each other). For a large body
 * this is worked out in the ingest thread beside the rows: sorting and counting 50 000 distinct metrics
 * took over 100 ms of the server's loop.
 */
export interface IngestTotals {
  /** Rows per (metric, hour), by hour then metric. */
  counts: HourBucket[];
  /** Newest timestamp (ms) per metric, by metric. */
  lastUpdates: MetricUpdate[];
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const byBucket = (a: HourBucket, b: HourBucket) => a[1] - b[1] || byText(a[0], b[0]);

const bucketKey = (metric: string, hour: number) => `${hour}\u0000${metric}`;

/** Counts of rows per (metric, hour), the shape event_count keeps. */
export class HourlyCounts {
  private readonly counts = new Map<string, HourBucket>();

  add(metric: string, ts: number, n = 1): void {
    const hour = Math.floor(ts / MICROS_PER_HOUR);
    const key = bucketKey(metric, hour);
    const bucket = this.counts.get(key);
    if (bucket) bucket[2] += n;
    else this.counts.set(key, [metric, hour, n]);
  }

  addRows(rows: EventRow[]): this {
    for (const row of rows) this.add(row[ROW.metric], row[ROW.ts]);
    return this;
  }

  get size(): number {
    return this.counts.size;
  }

  /** Rows counted in this bucket. */
  of(metric: string, hour: number): number {
    return this.counts.get(bucketKey(metric, hour))?.[2] ?? 0;
  }

  /** The buckets in the order they are written. */
  sorted(): HourBucket[] {
    return [...this.counts.values()].sort(byBucket);
  }

  /** Adds these counts to event_count (an upsert per bucket, in batches; `between` runs after each batch). */
  save(m: EntityManager, datasetId: number, between?: () => Promise<unknown>): Promise<void> {
    return saveCounts(m, datasetId, this.sorted(), undefined, between);
  }
}

/** The totals of prepared rows: see IngestTotals. */
export function ingestTotals(rows: EventRow[]): IngestTotals {
  const newest = new Map<string, number>();
  for (const row of rows) {
    const ms = Math.floor(row[ROW.ts] / 1000);
    if ((newest.get(row[ROW.metric]) ?? -Infinity) < ms) newest.set(row[ROW.metric], ms);
  }
  return {
    counts: new HourlyCounts().addRows(rows).sorted(),
    lastUpdates: [...newest.entries()].sort((a, b) => byText(a[0], b[0])),
  };
}

/**
 * Adds sorted buckets to event_count, less what `minus` holds (rows that replaced a stored event were
 * counted when it was stored), in batches; `between` runs after each.
 */
export async function saveCounts(m: EntityManager, datasetId: number, buckets: HourBucket[], minus?: HourlyCounts, between?: () => Promise<unknown>): Promise<void> {
  const mysql = m.connection.options.type !== 'better-sqlite3';
  const upsert = mysql ? 'ON DUPLICATE KEY UPDATE n = n + VALUES(n)' : 'ON CONFLICT (dataset_id, hour, metric) DO UPDATE SET n = n + excluded.n';
  const subtract = minus?.size ? minus : undefined;
  for (let i = 0; i < buckets.length; i += COUNT_BATCH) {
    const params: (string | number)[] = [];
    for (const [metric, hour, n] of buckets.slice(i, i + COUNT_BATCH)) {
      const added = subtract ? n - subtract.of(metric, hour) : n;
      if (added > 0) params.push(datasetId, metric, hour, added);
    }
    if (params.length) {
      const values = Array(params.length / 4).fill('(?, ?, ?, ?)').join(', ');
      await m.query(`INSERT INTO event_count (dataset_id, metric, hour, n) VALUES ${values} ${upsert}`, params);
    }
    await between?.();
  }
}
