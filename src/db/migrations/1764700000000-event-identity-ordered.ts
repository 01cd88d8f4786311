import { MigrationInterface, QueryRunner } from 'typeorm';
import { eventIdentity, IDENTITY_BYTES } from '../../events/identity';
import { identity128 } from './1764000000000-event-identity';

const BATCH = 500;

type IdentityOf = (datasetId: number, ts: number, metric: string, source: string | null, producerUserId: string | null, producerClientId: string | null) => Buffer;

/**
 * Event identities keep the order of (dataset, timestamp) instead of being a hash through and through
 * (see events/identity.ts): inserts then land near the right edge of the unique index instead of on a
 * random page each. Every stored identity is computed again, so an event stored before still collides
 * with its re-post and is replaced by it. The unique index is dropped while the identities change and
 * built once at the end: far cheaper than moving every entry, and no half-migrated key can collide.
 */
export class EventIdentityOrdered1764700000000 implements MigrationInterface {
  name = 'EventIdentityOrdered1764700000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    await q.query(mysql ? `ALTER TABLE event DROP INDEX uq_event_identity, MODIFY identity BINARY(${IDENTITY_BYTES}) NULL` : 'DROP INDEX uq_event_identity');
    await recompute(q, eventIdentity);
    await q.query('CREATE UNIQUE INDEX uq_event_identity ON event (identity)');
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    // VARBINARY meanwhile: the 16-byte identities must not be padded to 24 on the way back.
    await q.query(mysql ? `ALTER TABLE event DROP INDEX uq_event_identity, MODIFY identity VARBINARY(${IDENTITY_BYTES}) NULL` : 'DROP INDEX uq_event_identity');
    await recompute(q, identity128);
    if (mysql) await q.query('ALTER TABLE event MODIFY identity BINARY(16) NULL');
    await q.query('CREATE UNIQUE INDEX uq_event_identity ON event (identity)');
  }
}

/** Every event's identity computed again from its parts, batch by batch in id order. */
async function recompute(q: QueryRunner, identityOf: IdentityOf): Promise<void> {
  let after = 0;
  for (;;) {
    const rows: { id: number | string; dataset_id: number; ts: number | string; metric: string; source: string | null; producer_user_id: string | null; producer_client_id: string | null }[] =
      await q.query(`SELECT id, dataset_id, ts, metric, source, producer_user_id, producer_client_id FROM event WHERE id > ? ORDER BY id LIMIT ${BATCH}`, [after]);
    if (!rows.length) return;
    const cases = rows.map(() => 'WHEN ? THEN ?').join(' ');
    const params = rows.flatMap((r) => [Number(r.id), identityOf(r.dataset_id, Number(r.ts), r.metric, r.source, r.producer_user_id, r.producer_client_id)]);
    await q.query(`UPDATE event SET identity = CASE id ${cases} END WHERE id IN (${rows.map(() => '?').join(',')})`, [...params, ...rows.map((r) => Number(r.id))]);
    after = Number(rows[rows.length - 1].id);
  }
}
