import fs from 'node:fs';
import path from 'node:path';
import 'reflect-metadata';
import { DataSource, DataSourceOptions } from 'typeorm';
import { ENTITIES } from '../entities';
import { dialectOf, mysqlConnectionOptions, sqliteFile } from './connection';
import { Initial1763900000000 } from './migrations/1763900000000-initial';
import { EventCounts1763900000001 } from './migrations/1763900000001-event-counts';
import { EventSeriesIndex1764600000000 } from './migrations/1764600000000-event-series-index';

export { Dialect, dialectOf, mysqlConnectionOptions, sqliteFile } from './connection';

export const MIGRATIONS = [Initial1763900000000, EventCounts1763900000001, EventSeriesIndex1764600000000];

export function dataSourceOptions(databaseUrl: string): DataSourceOptions {
  if (dialectOf(databaseUrl) === 'sqlite') {
    const file = sqliteFile(databaseUrl);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    return {
      type: 'better-sqlite3',
      database: file,
      entities: ENTITIES,
      migrations: MIGRATIONS,
      synchronize: false,
      // WAL lets the export runner's own connection read while the server writes.
      prepareDatabase: (db: { pragma(s: string): unknown }) => {
        db.pragma('journal_mode = WAL');
        db.pragma('busy_timeout = 5000');
        db.pragma('synchronous = NORMAL');
      },
    };
  }
  const { user, ...my } = mysqlConnectionOptions(databaseUrl);
  return {
    type: 'mysql',
    ...my,
    username: user,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    supportBigNumbers: true,
    bigNumberStrings: false,
    extra: { connectionLimit: 10 },
  };
}

export function createDataSource(databaseUrl: string): DataSource {
  return new DataSource(dataSourceOptions(databaseUrl));
}

/**
 * Connects and brings the schema up to date (never `synchronize`). On MySQL a named lock serialises
 * processes that start together on a fresh database, so they do not race to create the same tables.
 */
export async function openDatabase(databaseUrl: string): Promise<DataSource> {
  const ds = createDataSource(databaseUrl);
  await ds.initialize();
  if (ds.options.type === 'better-sqlite3') {
    await ds.runMigrations({ transaction: 'each' });
    return ds;
  }
  const runner = ds.createQueryRunner();
  try {
    const [{ got }] = await runner.query("SELECT GET_LOCK('sluice_migrations', 60) AS got");
    if (Number(got) !== 1) throw new Error('another process held the migration lock for 60 s');
    try {
      // The lock belongs to this connection; the migrations may use any other one meanwhile.
      await ds.runMigrations({ transaction: 'each' });
    } finally {
      await runner.query("SELECT RELEASE_LOCK('sluice_migrations')");
    }
  } finally {
    await runner.release();
  }
  return ds;
}
