import { EntityManager } from 'typeorm';
import { EventRow, ROW } from '../events/event-schema';

export const MICROS_PER_HOUR = 3_600_000_000;

/** Counts of rows per (metric, hour), the shape event_count keeps. */
export class HourlyCounts {
  private readonly counts = new Map<string, number>();

  add(metric: string, ts: number, n = 1): void {
    const key = `${Math.floor(ts / MICROS_PER_HOUR)}\u0000${metric}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }

  addRows(rows: EventRow[]): this {
    for (const row of rows) this.add(row[ROW.metric], row[ROW.ts]);
    return this;
  }

  /** Adds these counts to event_count (an upsert per bucket, in batches; `between` runs after each batch). */
  async save(m: EntityManager, datasetId: number, between?: () => Promise<unknown>): Promise<void> {
    const mysql = m.connection.options.type !== 'better-sqlite3';
    // Sorted, so concurrent ingests lock buckets in one order and do not deadlock each other.
    const entries = [...this.counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (let i = 0; i < entries.length; i += 300) {
      const batch = entries.slice(i, i + 300);
      const values = batch.map(() => '(?, ?, ?, ?)').join(', ');
      const params = batch.flatMap(([key, n]) => {
        const [hour, metric] = key.split('\u0000');
        return [datasetId, metric, Number(hour), n];
      });
      const upsert = mysql ? 'ON DUPLICATE KEY UPDATE n = n + VALUES(n)' : 'ON CONFLICT (dataset_id, hour, metric) DO UPDATE SET n = n + excluded.n';
      await m.query(`INSERT INTO event_count (dataset_id, metric, hour, n) VALUES ${values} ${upsert}`, params);
      await between?.();
    }
  }
}
