/**
 * Settled outbox messages (delivered, or given up) are deleted 30 days after they settled; pending ones
 * never are, however old. On both stores.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import { DataSource } from 'typeorm';
import { openDatabase } from '../../src/db/data-source';
import { OutboxMessageEntity, OutboxState } from '../../src/entities/outbox-message.entity';
import { pruneSettledMessages, SETTLED_MESSAGES_KEPT_MS } from '../../src/exports/worker/retention';
import { Store, TestStore } from '../e2e/harness';

describe.each(['sqlite', 'mysql'] as Store[])('outbox pruning on %s', (kind) => {
  const store = new TestStore(kind);
  let ds: DataSource;

  beforeAll(async () => {
    await store.create();
    ds = await openDatabase(store.databaseUrl);
  });

  afterAll(async () => {
    await ds?.destroy();
    await store.drop();
  });

  const message = (state: OutboxState, settledOn: number) => ({
    id: `msg_${crypto.randomUUID()}`, kind: 'webhook' as const, state, exportId: 'e1', userId: 'u1', webhookId: 'w1', event: 'EXPORT_COMPLETED',
    payload: '{}', attempts: 1, claims: 1, nextAttemptOn: settledOn, leaseOwner: null, leaseExpires: null, lastStatus: 200, lastError: null,
    deliveredOn: state === 'DELIVERED' ? settledOn : null, createdOn: settledOn - 1_000,
  });

  test('deletes delivered and failed messages settled more than 30 days ago, keeps the recent and every pending one', async () => {
    const now = Date.now();
    const old = now - SETTLED_MESSAGES_KEPT_MS - 60_000;
    const recent = now - SETTLED_MESSAGES_KEPT_MS + 60_000;
    const rows = [message('DELIVERED', old), message('FAILED', old), message('PENDING', old), message('DELIVERED', recent), message('FAILED', recent)];
    for (const row of rows) await ds.getRepository(OutboxMessageEntity).insert(row);

    expect(await pruneSettledMessages(ds, now)).toBe(2);
    const left = await ds.getRepository(OutboxMessageEntity).find({ select: ['id'] });
    expect(left.map((r) => r.id).sort()).toEqual([rows[2].id, rows[3].id, rows[4].id].sort());
    expect(await pruneSettledMessages(ds, now)).toBe(0);
  });
});
