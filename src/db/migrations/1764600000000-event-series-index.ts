import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The index `latest: true` exports walk: one run of entries per series (dataset, source, metric), newest
 * last, so each series' newest event is one seek away and the series themselves can be skipped through
 * (a loose index scan) instead of reading every event. NULL sources sort first, as the export promises.
 * `id` closes the key so that events sharing a timestamp keep the export's stable tie-break.
 */
export class EventSeriesIndex1764600000000 implements MigrationInterface {
  name = 'EventSeriesIndex1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE INDEX idx_event_series ON event (dataset_id, source, metric, ts, id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(q.connection.options.type === 'better-sqlite3' ? 'DROP INDEX idx_event_series' : 'DROP INDEX idx_event_series ON event');
  }
}
