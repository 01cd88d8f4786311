import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Hourly event counts per dataset and metric, kept by ingest and seed, so that estimates of large
 * exports read a few hundred rows instead of counting millions. Filled from the events already there.
 */
export class EventCounts1763900000001 implements MigrationInterface {
  name = 'EventCounts1763900000001';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    const tail = mysql ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
    await q.query(`CREATE TABLE event_count (
      dataset_id INT NOT NULL, metric VARCHAR(255) NOT NULL, hour BIGINT NOT NULL, n BIGINT NOT NULL,
      PRIMARY KEY (dataset_id, hour, metric))${tail}`);
    const hour = mysql ? 'ts DIV 3600000000' : 'ts / 3600000000';
    await q.query(`INSERT INTO event_count (dataset_id, metric, hour, n) SELECT dataset_id, metric, ${hour}, COUNT(*) FROM event GROUP BY dataset_id, metric, ${hour}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE event_count');
  }
}
