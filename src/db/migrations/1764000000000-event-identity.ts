import { MigrationInterface, QueryRunner } from 'typeorm';
import { hash128 } from '../../events/identity';

const BATCH = 500;

/**
 * The identity as this migration stored it: a 128-bit hash of all the parts. Kept here unchanged, since
 * a store is brought up through this layout before EventIdentityOrdered1764700000000 replaces it.
 */
export function identity128(datasetId: number, ts: number, metric: string, source: string | null, producerUserId: string | null, producerClientId: string | null): Buffer {
  return hash128(JSON.stringify([datasetId, ts, metric, source, producerUserId, producerClientId]));
}

/**
 * Obelisk's rules for stored events:
 * - the type `boolean` is now called `bool` (`boolean` stays accepted as another name on the way in);
 * - an event's identity (timestamp, dataset, metric, source, producer) is unique: a hash of it in a new
 *   `identity` column under a unique index. Events stored twice before this rule keep their latest copy
 *   (the highest id: the last write wins), and the hourly counts are counted again when any went.
 */
export class EventIdentity1764000000000 implements MigrationInterface {
  name = 'EventIdentity1764000000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    for (const table of ['event', 'dataset_metric', 'event_count']) {
      await q.query(
        mysql
          ? `UPDATE ${table} SET metric = CONCAT(LEFT(metric, CHAR_LENGTH(metric) - 9), '::bool') WHERE RIGHT(metric, 9) = '::boolean'`
          : `UPDATE ${table} SET metric = substr(metric, 1, length(metric) - 9) || '::bool' WHERE substr(metric, -9) = '::boolean'`,
      );
    }

    await q.query(`ALTER TABLE event ADD COLUMN identity ${mysql ? 'BINARY(16)' : 'BLOB'} NULL`);
    // The hash is the application's own, so it is computed here, batch by batch.
    let after = 0;
    for (;;) {
      const rows: { id: number | string; dataset_id: number; ts: number | string; metric: string; source: string | null; producer_user_id: string | null; producer_client_id: string | null }[] =
        await q.query(`SELECT id, dataset_id, ts, metric, source, producer_user_id, producer_client_id FROM event WHERE id > ? ORDER BY id LIMIT ${BATCH}`, [after]);
      if (!rows.length) break;
      const cases = rows.map(() => 'WHEN ? THEN ?').join(' ');
      const params = rows.flatMap((r) => [Number(r.id), identity128(r.dataset_id, Number(r.ts), r.metric, r.source, r.producer_user_id, r.producer_client_id)]);
      await q.query(`UPDATE event SET identity = CASE id ${cases} END WHERE id IN (${rows.map(() => '?').join(',')})`, [...params, ...rows.map((r) => Number(r.id))]);
      after = Number(rows[rows.length - 1].id);
    }

    await q.query('CREATE INDEX idx_event_identity_dups ON event (identity, id)');
    const dupIds: { id: number | string }[] = await q.query('SELECT e.id AS id FROM event e WHERE EXISTS (SELECT 1 FROM event f WHERE f.identity = e.identity AND f.id > e.id)');
    for (let i = 0; i < dupIds.length; i += BATCH) {
      const ids = dupIds.slice(i, i + BATCH).map((r) => Number(r.id));
      await q.query(`DELETE FROM event WHERE id IN (${ids.map(() => '?').join(',')})`, ids);
    }
    await q.query(mysql ? 'DROP INDEX idx_event_identity_dups ON event' : 'DROP INDEX idx_event_identity_dups');
    await q.query('CREATE UNIQUE INDEX uq_event_identity ON event (identity)');

    if (dupIds.length) {
      const hour = mysql ? 'ts DIV 3600000000' : 'ts / 3600000000';
      await q.query('DELETE FROM event_count');
      await q.query(`INSERT INTO event_count (dataset_id, metric, hour, n) SELECT dataset_id, metric, ${hour}, COUNT(*) FROM event GROUP BY dataset_id, metric, ${hour}`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    await q.query(mysql ? 'DROP INDEX uq_event_identity ON event' : 'DROP INDEX uq_event_identity');
    await q.query('ALTER TABLE event DROP COLUMN identity');
    for (const table of ['event', 'dataset_metric', 'event_count']) {
      await q.query(
        mysql
          ? `UPDATE ${table} SET metric = CONCAT(LEFT(metric, CHAR_LENGTH(metric) - 6), '::boolean') WHERE RIGHT(metric, 6) = '::bool'`
          : `UPDATE ${table} SET metric = substr(metric, 1, length(metric) - 6) || '::boolean' WHERE substr(metric, -6) = '::bool'`,
      );
    }
  }
}
