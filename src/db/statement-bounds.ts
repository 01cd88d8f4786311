import { DataSource } from 'typeorm';
import { logger } from '../logger';

/**
 * Every statement the server sends through its pool is bounded in time by the database itself
 * (MariaDB `max_statement_time`, MySQL `max_execution_time` for SELECTs), so a statement a request
 * starts is stopped there, not merely abandoned here. Generous: ordinary statements take milliseconds;
 * the bound is for the ones a user could make slow. Estimates set tighter bounds per statement.
 */
export const SESSION_STATEMENT_MS = 30_000;

const BOUNDED = Symbol('sluice.statementBound');

interface PooledConnection {
  [BOUNDED]?: boolean;
  query(sql: string, cb: (err: Error | null) => void): unknown;
}

function isMariaDb(ds: DataSource): boolean {
  return /mariadb/i.test(String((ds.driver as unknown as { version?: string }).version ?? ''));
}

/** The session bound, set once on each pooled connection as it is first handed out after this call. */
export function boundSessionStatements(ds: DataSource, ms = SESSION_STATEMENT_MS): void {
  if (ds.options.type === 'better-sqlite3') return; // SQLite: see estimate.ts (counts run in a thread)
  const pool = (ds.driver as unknown as { pool?: { on(event: 'acquire', fn: (c: PooledConnection) => void): void } }).pool;
  if (!pool) return;
  const statement = isMariaDb(ds) ? `SET SESSION max_statement_time = ${ms / 1000}` : `SET SESSION max_execution_time = ${ms}`;
  // 'acquire' comes before the connection reaches its user, and a connection runs its commands in order:
  // the SET goes ahead of whatever the user sends first.
  pool.on('acquire', (conn) => {
    if (conn[BOUNDED]) return;
    conn[BOUNDED] = true;
    conn.query(statement, (err) => {
      if (err) logger.warn({ err: err.message }, 'could not bound statement time on a database connection');
    });
  });
}

/** One statement with its own bound, stopped by the database when it runs longer. */
export function mysqlBounded(sql: string, ms: number, mariadb: boolean): string {
  return mariadb ? `SET STATEMENT max_statement_time = ${ms / 1000} FOR ${sql}` : sql.replace(/^SELECT /, `SELECT /*+ MAX_EXECUTION_TIME(${ms}) */ `);
}

/** MariaDB ER_STATEMENT_TIMEOUT (1969), MySQL ER_QUERY_TIMEOUT (3024). */
export function isStatementTimeout(err: unknown): boolean {
  const errno = (err as { errno?: number }).errno;
  return errno === 1969 || errno === 3024;
}
