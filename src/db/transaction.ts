import { DataSource, EntityManager } from 'typeorm';

/**
 * TypeORM's SQLite driver runs every transaction on its one connection, so two that overlap in time
 * nest as savepoints of each other and commit or roll back together. On SQLite they therefore take
 * turns here; MySQL gives each transaction a pooled connection of its own.
 */
const turns = new WeakMap<DataSource, Promise<unknown>>();

export function inTransaction<T>(ds: DataSource, fn: (m: EntityManager) => Promise<T>): Promise<T> {
  if (ds.options.type !== 'better-sqlite3') return ds.transaction(fn);
  const before = turns.get(ds) ?? Promise.resolve();
  const result = before.then(() => ds.transaction(fn));
  turns.set(ds, result.catch(() => undefined));
  return result;
}
