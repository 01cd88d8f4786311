import pino from 'pino';

/** JSON logs on stderr, so that CLI commands keep stdout for their JSON answer. */
export const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination(2));
