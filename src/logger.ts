import pino from 'pino';

/** JSON logs on stderr, so that CLI commands keep stdout for their JSON answer. */
// An unknown LOG_LEVEL must not throw here, at import: the settings check reports it in one line instead.
const wanted = process.env.LOG_LEVEL ?? 'info';
const level = Object.hasOwn(pino.levels.values, wanted) ? wanted : 'info';
export const logger = pino({ level, base: { pid: process.pid } }, pino.destination(2));
