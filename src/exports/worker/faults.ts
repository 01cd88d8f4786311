/** Faults that say nothing about the export itself: the same export may well succeed on another try. */
const TRANSIENT_FAULTS: Record<string, string> = {
  PROTOCOL_CONNECTION_LOST: 'the database connection was lost',
  PROTOCOL_SEQUENCE_TIMEOUT: 'the database connection was lost',
  ECONNRESET: 'the database connection was lost',
  EPIPE: 'the database connection was lost',
  ER_NET_READ_ERROR: 'the database connection was lost',
  ER_NET_READ_INTERRUPTED: 'the database connection was lost',
  ER_NET_ERROR_ON_WRITE: 'the database connection was lost',
  ER_NET_WRITE_INTERRUPTED: 'the database connection was lost',
  ER_CLIENT_INTERACTION_TIMEOUT: 'the database connection was lost',
  ER_CONNECTION_KILLED: 'the database killed the connection',
  ER_QUERY_INTERRUPTED: 'the database interrupted the query',
  ER_SERVER_SHUTDOWN: 'the database was shutting down',
  ER_NORMAL_SHUTDOWN: 'the database was shutting down',
  ECONNREFUSED: 'the database could not be reached',
  ETIMEDOUT: 'the database could not be reached',
  EHOSTUNREACH: 'the database could not be reached',
  ENETUNREACH: 'the database could not be reached',
  EAI_AGAIN: 'the database could not be reached',
  ER_CON_COUNT_ERROR: 'the database had too many connections',
  SQLITE_BUSY: 'the database was busy',
};

/** Words for a transient fault (a retry may succeed), or null when the fault is not one. */
export function transientFault(message: string, code?: string): string | null {
  const what = code ? TRANSIENT_FAULTS[code] : undefined;
  return what ? `${what} (${code}: ${message})` : null;
}

/** Turns a runner fault into words for the person who asked for the export. */
export function describeFailure(message: string, code?: string): string {
  if (code === 'ENOSPC') return 'the exports disk is full: the export could not be written (free space in EXPORTS_DIR, then export again)';
  if (code === 'EACCES' || code === 'EROFS') return `the exports directory cannot be written (${code}): check EXPORTS_DIR`;
  return `export failed: ${message}`;
}

/** Words for an export stopped at EXPORT_MAX_RUNTIME. */
export function overRuntime(limitMs: number): string {
  return `export stopped after running longer than ${formatDuration(limitMs)} (EXPORT_MAX_RUNTIME): narrow it (from/to, filter, limit) and export again`;
}

function formatDuration(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${(ms / 1000).toFixed(1)}s`;
}
