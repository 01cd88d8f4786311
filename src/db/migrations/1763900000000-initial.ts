import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The whole first schema, in each dialect's own DDL: explicit SQL keeps the event table exactly as the
 * export query needs it (binary collation so string filters compare exactly, the (dataset, ts, id) index
 * that serves both the range and the stable order).
 */
export class Initial1763900000000 implements MigrationInterface {
  name = 'Initial1763900000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    const pk = mysql ? 'BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT';
    const intPk = mysql ? 'INT NOT NULL AUTO_INCREMENT PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT';
    const tail = mysql ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
    const bool = mysql ? 'TINYINT(1)' : 'BOOLEAN';
    const statements = [
      `CREATE TABLE \`user\` (
        id VARCHAR(36) NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, admin ${bool} NOT NULL DEFAULT 0,
        limits TEXT NULL, created_on BIGINT NOT NULL)${tail}`,
      `CREATE UNIQUE INDEX uq_user_email ON \`user\` (email)`,
      `CREATE TABLE access_token (
        token_hash VARCHAR(64) NOT NULL PRIMARY KEY, user_id VARCHAR(36) NOT NULL, created_on BIGINT NOT NULL)${tail}`,
      `CREATE INDEX idx_token_user ON access_token (user_id)`,
      `CREATE TABLE dataset (
        id ${intPk}, name VARCHAR(255) NOT NULL, description TEXT NULL, created_on BIGINT NOT NULL)${tail}`,
      `CREATE TABLE dataset_member (
        dataset_id INT NOT NULL, user_id VARCHAR(36) NOT NULL, permission VARCHAR(16) NOT NULL,
        PRIMARY KEY (dataset_id, user_id))${tail}`,
      `CREATE INDEX idx_member_user ON dataset_member (user_id)`,
      `CREATE TABLE dataset_metric (
        dataset_id INT NOT NULL, metric VARCHAR(255) NOT NULL, last_update BIGINT NOT NULL,
        PRIMARY KEY (dataset_id, metric))${tail}`,
      `CREATE TABLE event (
        id ${pk}, dataset_id INT NOT NULL, ts BIGINT NOT NULL, metric VARCHAR(255) NOT NULL,
        value_num DOUBLE NULL, value_text TEXT NULL, source VARCHAR(255) NULL, tags TEXT NULL,
        lat DOUBLE NULL, lng DOUBLE NULL, geohash VARCHAR(12) NULL, elevation DOUBLE NULL,
        producer_user_id VARCHAR(255) NULL, producer_client_id VARCHAR(255) NULL, ts_received BIGINT NOT NULL)${tail}`,
      `CREATE INDEX idx_event_dataset_ts ON event (dataset_id, ts, id)`,
      `CREATE TABLE data_export (
        id VARCHAR(36) NOT NULL PRIMARY KEY, user_id VARCHAR(36) NOT NULL, name VARCHAR(255) NULL, params TEXT NOT NULL,
        status VARCHAR(16) NOT NULL, records_estimate BIGINT NOT NULL DEFAULT 0, records_processed BIGINT NOT NULL DEFAULT 0,
        requested_on BIGINT NOT NULL, started_on BIGINT NULL, completed_on BIGINT NULL, expires_on BIGINT NULL,
        message TEXT NULL, size_bytes BIGINT NOT NULL DEFAULT 0, compressed_size BIGINT NULL, sha256 VARCHAR(64) NULL,
        truncated ${bool} NOT NULL DEFAULT 0, file_name VARCHAR(255) NULL, attempt INT NOT NULL DEFAULT 0,
        lease_owner VARCHAR(64) NULL, lease_expires BIGINT NULL, updated_on BIGINT NOT NULL)${tail}`,
      `CREATE INDEX idx_export_queue ON data_export (status, requested_on)`,
      `CREATE INDEX idx_export_user ON data_export (user_id, requested_on)`,
      `CREATE INDEX idx_export_updated ON data_export (updated_on)`,
      `CREATE TABLE setting (name VARCHAR(64) NOT NULL PRIMARY KEY, value TEXT NOT NULL)${tail}`,
    ];
    for (const sql of statements) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['setting', 'data_export', 'event', 'dataset_metric', 'dataset_member', 'dataset', 'access_token', 'user']) {
      await q.query(`DROP TABLE \`${table}\``);
    }
  }
}
