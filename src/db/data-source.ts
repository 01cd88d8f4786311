import fs from 'node:fs';
import path from 'node:path';
import 'reflect-metadata';
import { DataSource, DataSourceOptions } from 'typeorm';
import { ENTITIES } from '../entities';
import { dialectOf, mysqlConnectionOptions, sqliteFile } from './connection';
import { Initial1763900000000 } from './migrations/1763900000000-initial';
import { EventCounts1763900000001 } from './migrations/1763900000001-event-counts';
import { EventIdentity1764000000000 } from './migrations/1764000000000-event-identity';
import { FleetResilience1764100000000 } from './migrations/1764100000000-fleet-resilience';
import { ParamsMediumText1764200000000 } from './migrations/1764200000000-params-mediumtext';
import { Delivery1764400000000 } from './migrations/1764400000000-delivery';
import { ExportSchedules1764500000000 } from './migrations/1764500000000-export-schedules';
import { EventSeriesIndex1764600000000 } from './migrations/1764600000000-event-series-index';
import { EventIdentityOrdered1764700000000 } from './migrations/1764700000000-event-identity-ordered';

export { Dialect, dialectOf, mysqlConnectionOptions, sqliteFile } from './connection';

export const MIGRATIONS = [
  Initial1763900000000, EventCounts1763900000001, EventIdentity1764000000000, FleetResilience1764100000000, ParamsMediumText1764200000000,
  Delivery1764400000000,
  ExportSchedules1764500000000,
  EventSeriesIndex1764600000000,
  EventIdentityOrdered1764700000000,
];

export function dataSourceOptions(databaseUrl: string): DataSourceOptions {
  if (dialectOf(databaseUrl) === 'sqlite') {
    const file = sqliteFile(databaseUrl);
    if (!fs.existsSync(path.dirname(file))) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      // Said, not silent: a mistyped path would otherwise quietly start an empty store somewhere else.
      process.stderr.write(`sluice: DATABASE_URL: created the directory ${path.dirname(file)} for the SQLite file\n`);
    }
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
  try {
    await ds.initialize();
  } catch (err) {
    throw new DatabaseStartError(describeConnectError(err, databaseUrl));
  }
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

/** The store could not be opened; the message names DATABASE_URL and what to do, in one line. */
export class DatabaseStartError extends Error {}

/** A connection failure in words that name the setting, instead of the driver's jargon. */
export function describeConnectError(err: unknown, databaseUrl: string): string {
  const e = err as { code?: string; message?: string };
  const shown = databaseUrl.replace(/\/\/[^@/]*@/, '//***@');
  if (dialectOf(databaseUrl) === 'sqlite') return `DATABASE_URL=${shown}: cannot open the SQLite file (${e.code ?? e.message})`;
  const { host, port, database, user } = mysqlConnectionOptions(databaseUrl);
  switch (e.code) {
    case 'ER_BAD_DB_ERROR':
      return `DATABASE_URL=${shown}: the database "${database}" does not exist on ${host}:${port}; create it first: CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`;
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_DBACCESS_DENIED_ERROR':
      return `DATABASE_URL=${shown}: MySQL refused user "${user}" (${e.code}); check the user name, password and grants`;
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return `DATABASE_URL=${shown}: cannot reach MySQL at ${host}:${port} (${e.code}); is the server running?`;
    default:
      return `DATABASE_URL=${shown}: cannot connect (${e.code ?? 'error'}: ${(e.message ?? String(err)).split('\n')[0]})`;
  }
}
