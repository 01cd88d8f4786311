import path from 'node:path';

/** A setting read from the environment: its default, what it expects, and how it is parsed. */
interface SettingSpec<T> {
  env: string;
  default: string;
  expects: string;
  describe: string;
  parse(raw: string): T | undefined;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export function parseDuration(raw: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(raw);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2].toLowerCase()]);
}

export function parseSize(raw: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(raw);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]);
}

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string) => {
    if (!/^\s*\d+\s*$/.test(raw)) return undefined;
    const n = Number(raw);
    return n >= min && n <= max ? n : undefined;
  };
}

function flag(raw: string): boolean | undefined {
  if (/^(1|true|yes|on)$/i.test(raw.trim())) return true;
  if (/^(0|false|no|off)$/i.test(raw.trim())) return false;
  return undefined;
}

function databaseUrl(raw: string): string | undefined {
  const url = raw.trim();
  if (/^sqlite:.+$/.test(url)) return url;
  if (!/^(mysql|mariadb):\/\/.+/.test(url)) return undefined;
  try {
    // The database name is required: without it every statement fails with "No database selected".
    return new URL(url.replace(/^mariadb:/, 'mysql:')).pathname.replace(/^\//, '') ? url : undefined;
  } catch {
    return undefined;
  }
}

/** A comma-separated list of durations, each at least 1 s (WEBHOOK_RETRY_DELAYS). */
export function parseDelays(raw: string): number[] | undefined {
  const parts = raw.split(',').map((p) => p.trim());
  if (!parts.length || parts.length > 20) return undefined;
  const delays = parts.map(parseDuration);
  return delays.every((d): d is number => d !== undefined && d >= 1000) ? delays : undefined;
}

function smtpUrl(raw: string): string | undefined {
  return raw === '' || /^smtps?:\/\/[^\s/]+/.test(raw) ? raw : undefined;
}

function redisUrl(raw: string): string | undefined {
  return raw === '' || /^rediss?:\/\/.+/.test(raw) ? raw : undefined;
}

const SPECS = {
  port: { env: 'PORT', default: '4000', expects: 'a TCP port number (0-65535)', describe: 'HTTP port of the server', parse: integer(0, 65535) },
  databaseUrl: {
    env: 'DATABASE_URL', default: 'sqlite:./data/sluice.sqlite', expects: 'sqlite:<file> or mysql://user:pass@host:port/<database> (the database name is required; the database must exist)',
    describe: 'the store: an embedded SQLite file, or MySQL/MariaDB', parse: databaseUrl,
  },
  exportsDir: { env: 'EXPORTS_DIR', default: './data/exports', expects: 'a directory path', describe: 'where finished exports are kept (shared by all workers and servers)', parse: (r: string) => (r.trim() ? r : undefined) },
  exportWorkers: { env: 'EXPORT_WORKERS', default: '1', expects: '0 or 1', describe: 'in-process export worker on a server (0: none)', parse: integer(0, 1) },
  exportConcurrency: { env: 'EXPORT_CONCURRENCY', default: '2', expects: 'an integer from 1 to 64', describe: 'exports generating at once per worker', parse: integer(1, 64) },
  exportLeaseMs: { env: 'EXPORT_LEASE', default: '30s', expects: 'a duration such as 30s, 2m (at least 1s)', describe: 'how long a silent worker keeps an export before another takes it over', parse: (r: string) => { const v = parseDuration(r); return v !== undefined && v >= 1000 ? v : undefined; } },
  exportMaxRuntimeMs: { env: 'EXPORT_MAX_RUNTIME', default: '2h', expects: 'a duration such as 2h, 30m (at least 1s)', describe: 'an export generating longer than this is FAILED with a message', parse: (r: string) => { const v = parseDuration(r); return v !== undefined && v >= 1000 ? v : undefined; } },
  exportRetentionMs: { env: 'EXPORT_RETENTION', default: '7d', expects: 'a duration such as 7d, 12h', describe: 'how long a finished export is kept', parse: (r: string) => { const v = parseDuration(r); return v !== undefined && v > 0 ? v : undefined; } },
  downloadLinkTtlMs: { env: 'DOWNLOAD_LINK_TTL', default: '2m', expects: 'a duration such as 2m, 30s', describe: 'how long a download link stays valid', parse: (r: string) => { const v = parseDuration(r); return v !== undefined && v > 0 ? v : undefined; } },
  ingestMaxBytes: { env: 'INGEST_MAX_BYTES', default: '16mb', expects: 'a size such as 16mb, 512kb', describe: 'largest ingest request body (Obelisk\'s limit)', parse: (r: string) => { const v = parseSize(r); return v !== undefined && v > 0 ? v : undefined; } },
  redisUrl: { env: 'REDIS_URL', default: '', expects: 'redis://host:port', describe: 'Redis for subscription events across processes (unset: through the database)', parse: redisUrl },
  demo: { env: 'SLUICE_DEMO', default: '1', expects: '1 or 0', describe: 'a fresh store gets the demo user and a demo dataset of 100 000 events', parse: flag },
  maxDataExports: { env: 'MAX_DATA_EXPORTS', default: '5', expects: 'a positive integer', describe: 'default per-user limit of exports queued or generating at once', parse: integer(1) },
  maxDataExportRecords: { env: 'MAX_DATA_EXPORT_RECORDS', default: '50000000', expects: 'a positive integer', describe: 'default per-user limit of records in one export', parse: integer(1) },
  smtpUrl: { env: 'SMTP_URL', default: '', expects: 'smtp://[user:pass@]host:port or smtps://…', describe: 'mail server for export e-mails (unset: no e-mail)', parse: smtpUrl },
  mailFrom: { env: 'MAIL_FROM', default: 'sluice@localhost', expects: 'an e-mail address', describe: 'sender of export e-mails', parse: (r: string) => (/^[^\s@]+@[^\s@]+$|^[^<>]*<[^\s@<>]+@[^\s@<>]+>$/.test(r.trim()) ? r.trim() : undefined) },
  mailAttachmentMax: { env: 'MAIL_ATTACHMENT_MAX', default: '10mb', expects: 'a size such as 10mb, 512kb (0: never attach)', describe: 'largest stored file attached to an e-mail (larger: a link only)', parse: parseSize },
  webhookRetryDelays: {
    env: 'WEBHOOK_RETRY_DELAYS', default: '5s,30s,2m,10m,1h', expects: 'comma-separated durations, each at least 1s (e.g. 5s,30s,2m)',
    describe: 'waits before each retry of a webhook call or e-mail; then it is given up', parse: parseDelays,
  },
  webhookAllowPrivate: { env: 'WEBHOOK_ALLOW_PRIVATE', default: '0', expects: '1 or 0', describe: 'allow webhook URLs on loopback, private and link-local addresses', parse: flag },
  slicedExports: { env: 'SLUICE_SLICED_EXPORTS', default: '1', expects: '1 or 0', describe: 'SQLite: read large CSV/JSONL exports on two threads (0: on one)', parse: flag },
  publicUrl: { env: 'PUBLIC_URL', default: '', expects: 'http(s)://host[:port], no path', describe: 'base of links in e-mails (unset: http://localhost:<PORT>)', parse: (r: string) => (r === '' || /^https?:\/\/[^\s/]+\/?$/.test(r) ? r.replace(/\/$/, '') : undefined) },
  metricsToken: { env: 'METRICS_TOKEN', default: '', expects: 'a token without spaces (at least 16 characters)', describe: '/metrics needs "Authorization: Bearer <it>" (unset: open)', parse: (r: string) => (r === '' || /^\S{16,}$/.test(r) ? r : undefined) },
  metricsPort: { env: 'METRICS_PORT', default: '', expects: 'a TCP port number (0-65535; 0 picks a free one)', describe: '`sluice worker` serves /metrics on this port (unset: none)', parse: (r: string) => (r.trim() === '' ? null : integer(0, 65535)(r)) },
  logLevel: { env: 'LOG_LEVEL', default: 'info', expects: 'one of error, warn, info, debug', describe: 'how much the processes log', parse: (r: string) => (['error', 'warn', 'info', 'debug'].includes(r) ? r : undefined) },
} satisfies Record<string, SettingSpec<unknown>>;

type Specs = typeof SPECS;
export type Config = { [K in keyof Specs]: Exclude<ReturnType<Specs[K]['parse']>, undefined> };

export class ConfigError extends Error {}

/** Reads every setting; the first bad one throws a ConfigError naming the variable and what it expects. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SPECS) as [string, SettingSpec<unknown>][]) {
    const raw = env[spec.env] ?? spec.default;
    const value = spec.parse(raw);
    if (value === undefined) {
      throw new ConfigError(`${spec.env}=${JSON.stringify(raw)} is not valid: expected ${spec.expects}`);
    }
    out[key] = value;
  }
  const config = out as Config;
  config.exportsDir = path.resolve(config.exportsDir);
  return config;
}

/** The help text's settings table: every variable with its default. */
export function describeSettings(): string {
  const rows = Object.values(SPECS).map((s: SettingSpec<unknown>) => `  ${s.env.padEnd(24)} ${(s.default === '' ? '(unset)' : s.default).padEnd(28)} ${s.describe}`);
  return ['Settings (environment variables):', `  ${'variable'.padEnd(24)} ${'default'.padEnd(28)} meaning`, ...rows].join('\n');
}

/** Loads the config or stops the process with one line naming the bad variable. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sluice: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
