import pino from 'pino';

/**
 * JSON logs on stderr, so that CLI commands keep stdout for their JSON answer. Credentials are never
 * logged on purpose; the redaction is the net under that, should a header or token field slip in.
 */
export const logger = pino(
  {
    level: process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', '*.headers.authorization', '*.Authorization', 'connectionParams'], censor: '[redacted]' },
  },
  pino.destination(2),
);
