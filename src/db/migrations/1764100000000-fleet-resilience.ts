import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `faults` counts the attempts that ended by a fault (a transient database error, a worker that stopped
 * renewing its lease), apart from `attempt`, which also counts graceful hand-backs: only faults lead to
 * FAILED. `export_removal` keeps a removed export's last state for a while, so that a subscriber on
 * another server hears of the removal through the database, where a deleted row leaves no trace.
 */
export class FleetResilience1764100000000 implements MigrationInterface {
  name = 'FleetResilience1764100000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    const tail = mysql ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
    await q.query('ALTER TABLE data_export ADD COLUMN faults INT NOT NULL DEFAULT 0');
    // The same count for exports already under way: until now every claim was counted as a fault.
    await q.query("UPDATE data_export SET faults = CASE WHEN attempt > 1 THEN attempt - 1 ELSE 0 END WHERE status IN ('QUEUING', 'GENERATING')");
    await q.query(`CREATE TABLE export_removal (
      export_id VARCHAR(36) NOT NULL PRIMARY KEY, user_id VARCHAR(36) NOT NULL, removed_on BIGINT NOT NULL,
      last_state ${mysql ? 'MEDIUMTEXT' : 'TEXT'} NOT NULL)${tail}`);
    await q.query('CREATE INDEX idx_removal_time ON export_removal (removed_on)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE export_removal');
    await q.query('ALTER TABLE data_export DROP COLUMN faults');
  }
}
