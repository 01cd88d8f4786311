/**
 * The incremental cutoff under writes that commit out of order, on both stores: a write registered
 * first but committed last holds the cutoff below its tsReceived until it commits.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { openDatabase } from '../../src/db/data-source';
import { SluiceError } from '../../src/errors';
import { OPEN_WRITE_STALE_US, OpenWrites } from '../../src/exports/schedules/open-writes';
import { Store, TestStore } from '../e2e/harness';

describe.each(['sqlite', 'mysql'] as Store[])('open writes on %s', (kind) => {
  const store = new TestStore(kind);
  let ds: DataSource;
  let writes: OpenWrites;

  beforeAll(async () => {
    await store.create();
    ds = await openDatabase(store.databaseUrl);
    writes = new OpenWrites(ds);
  });

  afterAll(async () => {
    await ds?.destroy();
    await store.drop();
  });

  test('a write that started first and commits last keeps the cutoff below its tsReceived until it commits', async () => {
    const early = await writes.begin();
    // On MariaDB the early write holds a real transaction open meanwhile (SQLite has one writer, one connection).
    const runner = kind === 'mysql' ? ds.createQueryRunner() : null;
    if (runner) {
      await runner.startTransaction();
      await early.confirm(runner.manager);
    }
    await new Promise((r) => setTimeout(r, 5));
    const late = await writes.begin();
    expect(late.received).toBeGreaterThan(early.received);
    await ds.transaction((m) => late.confirm(m));
    await late.end();

    const held = await writes.cutoff();
    // Neither write's events may be in a run cut now: the late one's are visible, but the early one's are not yet.
    expect(held).toBeLessThan(early.received);
    if (runner) {
      await runner.commitTransaction();
      await runner.release();
    } else {
      await ds.transaction((m) => early.confirm(m));
    }
    await early.end();
    const released = await writes.cutoff();
    expect(released).toBeGreaterThanOrEqual(late.received);
  });

  test('a write registered longer ago than the stale limit no longer holds cutoffs, and cannot commit', async () => {
    const stale = await writes.begin();
    await ds.query('UPDATE open_write SET started = started - ?', [OPEN_WRITE_STALE_US + 1_000_000]);
    const before = Date.now() * 1000;
    expect(await writes.cutoff()).toBeGreaterThanOrEqual(before);
    let caught: unknown;
    try {
      await ds.transaction((m) => stale.confirm(m));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SluiceError);
    expect((caught as SluiceError).message).toMatch(/the write took over 10 minutes and was not stored; send it again/);
    await stale.end();
  });
});
