import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Delivery: each export's history, users' webhooks, and the outbox of messages (webhook calls, e-mails)
 * written in the same transaction as the state change they announce. The stored file's own sha256 is
 * kept at completion so downloads can send its digest and ETag without reading it again.
 */
export class Delivery1764400000000 implements MigrationInterface {
  name = 'Delivery1764400000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    const tail = mysql ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
    const serial = mysql ? 'BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT';
    await q.query(`CREATE TABLE export_event (
      id ${serial}, export_id VARCHAR(36) NOT NULL, at BIGINT NOT NULL, type VARCHAR(24) NOT NULL, message TEXT NULL)${tail}`);
    await q.query('CREATE INDEX idx_export_event_export ON export_event (export_id, id)');
    await q.query(`CREATE TABLE webhook (
      id VARCHAR(36) NOT NULL PRIMARY KEY, user_id VARCHAR(36) NOT NULL, url VARCHAR(2048) NOT NULL, events VARCHAR(255) NOT NULL,
      secret VARCHAR(128) NOT NULL, created_on BIGINT NOT NULL)${tail}`);
    await q.query('CREATE INDEX idx_webhook_user ON webhook (user_id, created_on)');
    await q.query(`CREATE TABLE outbox_message (
      id VARCHAR(40) NOT NULL PRIMARY KEY, kind VARCHAR(16) NOT NULL, state VARCHAR(16) NOT NULL, export_id VARCHAR(36) NOT NULL,
      user_id VARCHAR(36) NOT NULL, webhook_id VARCHAR(36) NULL, event VARCHAR(24) NOT NULL, payload TEXT NOT NULL,
      attempts INT NOT NULL DEFAULT 0, claims INT NOT NULL DEFAULT 0, next_attempt_on BIGINT NOT NULL,
      lease_owner VARCHAR(64) NULL, lease_expires BIGINT NULL, last_status INT NULL, last_error TEXT NULL,
      delivered_on BIGINT NULL, created_on BIGINT NOT NULL)${tail}`);
    await q.query('CREATE INDEX idx_outbox_due ON outbox_message (state, next_attempt_on)');
    await q.query('CREATE INDEX idx_outbox_webhook ON outbox_message (webhook_id, created_on)');
    await q.query('ALTER TABLE data_export ADD COLUMN compressed_sha256 VARCHAR(64) NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE data_export DROP COLUMN compressed_sha256');
    await q.query('DROP TABLE outbox_message');
    await q.query('DROP TABLE webhook');
    await q.query('DROP TABLE export_event');
  }
}
