import { DataSource } from 'typeorm';
import { badRequest } from '../errors';
import { OpenWrites } from '../exports/schedules/open-writes';
import { DatasetService } from './dataset.service';
import { HourlyCounts } from './event-counts';
import { EVENT_COLUMNS, EventRow, eventToRow, InputPrecision } from './events';

/** Rows per INSERT statement: well under SQLite's and MySQL's placeholder limits. */
const INSERT_BATCH = 500;

export class EventService {
  private readonly openWrites: OpenWrites;

  constructor(
    private readonly ds: DataSource,
    private readonly datasets: DatasetService,
  ) {
    this.openWrites = new OpenWrites(ds);
  }

  /** All or nothing: every event is checked before anything is written, then all go in one transaction. */
  async ingest(datasetId: number, body: unknown, precision: InputPrecision): Promise<number> {
    if (!Array.isArray(body)) throw badRequest('the body must be a JSON array of events');
    // Registered before tsReceived is stamped, so incremental schedule cutoffs stay behind this write until it commits.
    const write = await this.openWrites.begin();
    let rows: EventRow[];
    try {
      const received = write.received;
      rows = body.map((raw, index) => {
        try {
          return eventToRow(raw, datasetId, precision, received);
        } catch (err) {
          throw badRequest(`event ${index}: ${(err as Error).message}`);
        }
      });
      await this.ds.transaction(async (m) => {
        for (let i = 0; i < rows.length; i += INSERT_BATCH) {
          const batch = rows.slice(i, i + INSERT_BATCH);
          await m.query(insertSql(batch.length), batch.flat());
        }
        await new HourlyCounts().addRows(rows).save(m, datasetId);
        await write.confirm(m);
      });
    } finally {
      await write.end();
    }
    await this.datasets.touchMetrics(datasetId, lastUpdates(rows));
    return rows.length;
  }
}

export function insertSql(rowCount: number): string {
  const one = `(${EVENT_COLUMNS.map(() => '?').join(',')})`;
  return `INSERT INTO event (${EVENT_COLUMNS.join(',')}) VALUES ${Array(rowCount).fill(one).join(',')}`;
}

/** Newest timestamp (ms) per metric among the rows. */
export function lastUpdates(rows: EventRow[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const row of rows) {
    const ms = Math.floor(row[1] / 1000);
    if ((out.get(row[2]) ?? -Infinity) < ms) out.set(row[2], ms);
  }
  return out;
}
