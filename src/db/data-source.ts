import fs from 'node:fs';
import path from 'node:path';
import 'reflect-metadata';
import { DataSource, DataSourceOptions } from 'typeorm';
import { ENTITIES } from '../entities';
import { Initial1763900000000 } from './migrations/1763900000000-initial';
import { EventCounts1763900000001 } from './migrations/1763900000001-event-counts';

export const MIGRATIONS = [Initial1763900000000, EventCounts1763900000001];

export type Dialect = 'sqlite' | 'mysql';

export function dialectOf(databaseUrl: string): Dialect {
  return databaseUrl.startsWith('sqlite:') ? 'sqlite' : 'mysql';
}

export function sqliteFile(databaseUrl: string): string {
  return path.resolve(databaseUrl.slice('sqlite:'.length));
}

/** Connection settings for mysql2, shared by TypeORM and the export runner's own connection. */
export function mysqlConnectionOptions(databaseUrl: string) {
  const url = new URL(databaseUrl.replace(/^mariadb:/, 'mysql:'));
  return {
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.replace(/^\//, '')),
    charset: 'utf8mb4_bin',
  };
}

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

/** Connects and brings the schema up to date (never `synchronize`). */
export async function openDatabase(databaseUrl: string): Promise<DataSource> {
  const ds = createDataSource(databaseUrl);
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  return ds;
}
