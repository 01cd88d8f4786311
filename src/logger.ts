import pino from 'pino';

// An unknown LOG_LEVEL must not throw here, at import: the settings check reports it in one line instead.
const wanted = process.env.LOG_LEVEL ?? 'info';
const level = Object.hasOwn(pino.levels.values, wanted) ? wanted : 'info';

/**
 * JSON logs on stderr, so that CLI commands keep stdout for their JSON answer. Credentials are never
 * logged on purpose; the redaction is the net under that, should a header or token field slip in.
 */
export const logger = pino(
  {
    level,
    base: { pid: process.pid },
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', '*.headers.authorization', '*.Authorization', 'connectionParams'], censor: '[redacted]' },
  },
  pino.destination(2),
);
