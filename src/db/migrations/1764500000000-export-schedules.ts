import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Schedules (§14): the schedule, one row per tick acted on (its primary key is the one-run-per-tick
 * guarantee), the link from a run to its schedule, and the open ingest writes that keep an incremental
 * run's cutoff behind every write still in flight.
 */
export class ExportSchedules1764500000000 implements MigrationInterface {
  name = 'ExportSchedules1764500000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    const tail = mysql ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
    const bool = mysql ? 'TINYINT(1)' : 'BOOLEAN';
    const statements = [
      `CREATE TABLE export_schedule (
        id VARCHAR(36) NOT NULL PRIMARY KEY, user_id VARCHAR(36) NOT NULL, name VARCHAR(255) NOT NULL, cron VARCHAR(255) NOT NULL,
        time_zone VARCHAR(64) NOT NULL, incremental ${bool} NOT NULL DEFAULT 0, paused ${bool} NOT NULL DEFAULT 0, definition TEXT NOT NULL,
        next_run_on BIGINT NULL, last_run_on BIGINT NULL, last_message TEXT NULL, last_cutoff BIGINT NULL, created_on BIGINT NOT NULL)${tail}`,
      `CREATE INDEX idx_schedule_user ON export_schedule (user_id, created_on)`,
      `CREATE INDEX idx_schedule_due ON export_schedule (paused, next_run_on)`,
      `CREATE TABLE export_schedule_tick (
        schedule_id VARCHAR(36) NOT NULL, tick BIGINT NOT NULL, export_id VARCHAR(36) NULL, message TEXT NULL, created_on BIGINT NOT NULL,
        PRIMARY KEY (schedule_id, tick))${tail}`,
      `ALTER TABLE data_export ADD COLUMN schedule_id VARCHAR(36) NULL`,
      `CREATE INDEX idx_export_schedule ON data_export (schedule_id, requested_on)`,
      `CREATE TABLE open_write (
        id VARCHAR(36) NOT NULL PRIMARY KEY, started BIGINT NOT NULL, committing ${bool} NOT NULL DEFAULT 0)${tail}`,
      `CREATE INDEX idx_open_write_started ON open_write (started)`,
    ];
    for (const sql of statements) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE open_write');
    await q.query(q.connection.options.type === 'better-sqlite3' ? 'DROP INDEX idx_export_schedule' : 'DROP INDEX idx_export_schedule ON data_export');
    await q.query('ALTER TABLE data_export DROP COLUMN schedule_id');
    await q.query('DROP TABLE export_schedule_tick');
    await q.query('DROP TABLE export_schedule');
  }
}
