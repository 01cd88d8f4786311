/**
 * What `myExportsUpdated` tells when changes reach this process late (Redis away, a notice lost): a
 * followed export that completed and was removed before this process heard of either is told as
 * COMPLETED, then removed; a removal that cancelled the export is told once; `exportUpdated` ends on
 * an end it heard of late. On both stores.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import { DataSource } from 'typeorm';
import { openDatabase } from '../../src/db/data-source';
import { DataExportEntity, ExportStatus } from '../../src/entities/data-export.entity';
import { ExportRemovalEntity } from '../../src/entities/export-removal.entity';
import { UserEntity } from '../../src/entities/user.entity';
import { ExportChange, ExportWatch } from '../../src/exports/export-watch';
import { ExportEvents } from '../../src/exports/export-events';
import { Store, TestStore } from '../e2e/harness';

describe.each(['sqlite', 'mysql'] as Store[])('ExportWatch.followMine on %s', (kind) => {
  const store = new TestStore(kind);
  let ds: DataSource;
  let user: UserEntity;

  beforeAll(async () => {
    await store.create();
    ds = await openDatabase(store.databaseUrl);
    user = await ds.getRepository(UserEntity).save({ id: crypto.randomUUID(), email: `watch-${kind}@example.com`, admin: false, limits: null, createdOn: Date.now() });
  });

  afterAll(async () => {
    await ds?.destroy();
    await store.drop();
  });

  async function insertExport(status: ExportStatus, at: number): Promise<DataExportEntity> {
    return ds.getRepository(DataExportEntity).save({ id: crypto.randomUUID(), userId: user.id, name: 'watched', params: '{}', status, requestedOn: at, updatedOn: at });
  }

  /** Removes the row the way ExportService.remove does: the tombstone with the last state, then the delete. */
  async function removeRow(state: DataExportEntity, removedOn: number): Promise<void> {
    await ds.getRepository(ExportRemovalEntity).save({ exportId: state.id, userId: user.id, removedOn, lastState: JSON.stringify(state) });
    await ds.getRepository(DataExportEntity).delete({ id: state.id });
  }

  /** Runs followMine; `next` waits at most 5 s for its next message, so a missing one fails the test instead of hanging it. */
  function follow(events: ExportEvents, watch: ExportWatch) {
    const abort = new AbortController();
    const gen = watch.followMine(user, abort.signal);
    const seen: ExportChange[] = [];
    const next = async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no message within 5 s after ${JSON.stringify(seen.map((c) => [c.kind, c.export.status]))}`)), 5_000);
      });
      try {
        const r = await Promise.race([gen.next(), late]);
        if (!r.done) seen.push(r.value);
        return r;
      } finally {
        clearTimeout(timer);
      }
    };
    return { seen, next, stop: () => abort.abort(), gen, events };
  }

  /** A generating export, followed by followMine until its first state was told. */
  async function followingOneGenerating() {
    const events = new ExportEvents();
    const t0 = Date.now() - 10_000;
    const row = await insertExport(ExportStatus.GENERATING, t0);
    const f = follow(events, new ExportWatch(ds, events));
    const first = f.next();
    events.changed(row.id, user.id);
    await first;
    return { events, t0, row, f };
  }

  test('completed and removed before the notice arrived: COMPLETED is told, then the removal', async () => {
    const { events, t0, row, f } = await followingOneGenerating();
    expect(f.seen.map((c) => [c.kind, c.export.status])).toEqual([['changed', 'GENERATING']]);

    // Both the completion and the removal happen with no notice reaching this process in between.
    const completed = { ...row, status: ExportStatus.COMPLETED, recordsProcessed: 42, updatedOn: t0 + 1_000, completedOn: t0 + 1_000 };
    await ds.getRepository(DataExportEntity).save(completed);
    await removeRow(completed, t0 + 2_000);
    const two = Promise.all([f.next(), f.next()]);
    events.changed(row.id, user.id);
    await two.finally(() => f.stop());
    expect(f.seen.map((c) => [c.kind, c.export.status, c.export.recordsProcessed])).toEqual([
      ['changed', 'GENERATING', 0],
      ['changed', 'COMPLETED', 42],
      ['removed', 'COMPLETED', 42],
    ]);
  });

  test('a removal that cancelled the export it followed is told once, as the removal', async () => {
    const { events, t0, row, f } = await followingOneGenerating();
    // The removal's own cancel: its state is written at the moment of the removal.
    const cancelled = { ...row, status: ExportStatus.CANCELLED, message: 'removed by the user', updatedOn: t0 + 1_000, completedOn: t0 + 1_000 };
    await removeRow(cancelled, t0 + 1_000);
    const removal = f.next();
    events.changed(row.id, user.id);
    await removal;
    // Anything else would come within one more poke; nothing must.
    events.changed(row.id, user.id);
    const more = await Promise.race([f.next().then(() => 'more'), new Promise((r) => setTimeout(() => r('none'), 400))]);
    f.stop();
    expect(more).toBe('none');
    expect(f.seen.map((c) => [c.kind, c.export.status])).toEqual([
      ['changed', 'GENERATING'],
      ['removed', 'CANCELLED'],
    ]);
  });

  test('exportUpdated: an end reached before the removal, heard of only after it, is told as the end (not as a removal)', async () => {
    const events = new ExportEvents();
    const watch = new ExportWatch(ds, events);
    const t0 = Date.now() - 10_000;
    const ended = await insertExport(ExportStatus.GENERATING, t0);
    const cancelledByRemoval = await insertExport(ExportStatus.GENERATING, t0);
    const run = async (row: DataExportEntity, removeAs: DataExportEntity, removedOn: number) => {
      const abort = new AbortController();
      const gen = watch.follow(user, row, abort.signal);
      const seen: ExportChange[] = [(await gen.next()).value as ExportChange];
      await removeRow(removeAs, removedOn);
      const rest = (async () => {
        for await (const c of { [Symbol.asyncIterator]: () => gen }) seen.push(c);
      })();
      events.changed(row.id, user.id);
      await Promise.race([rest, new Promise((_, reject) => setTimeout(() => reject(new Error(`not ended within 5 s: ${JSON.stringify(seen.map((c) => [c.kind, c.export.status]))}`)), 5_000))]).finally(() => abort.abort());
      return seen.map((c) => [c.kind, c.export.status]);
    };
    expect(await run(ended, { ...ended, status: ExportStatus.COMPLETED, updatedOn: t0 + 1_000, completedOn: t0 + 1_000 }, t0 + 2_000)).toEqual([
      ['changed', 'GENERATING'],
      ['changed', 'COMPLETED'],
    ]);
    expect(await run(cancelledByRemoval, { ...cancelledByRemoval, status: ExportStatus.CANCELLED, message: 'removed by the user', updatedOn: t0 + 1_000 }, t0 + 1_000)).toEqual([
      ['changed', 'GENERATING'],
      ['removed', 'CANCELLED'],
    ]);
  });
});
