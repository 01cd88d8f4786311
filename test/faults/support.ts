import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { createConnection } from 'mysql2/promise';
import { serverProcess, TestServer, TestStore, TestWorker, waitFor } from '../e2e/harness';

const ROOT = path.resolve(__dirname, '..', '..');
export const MYSQL_ROOT = 'mysql://root@127.0.0.1:3306';

/** Every field, ISO timestamps in a zone with DST, microseconds: the slowest CSV to write, so a fault lands mid-export. */
export const HEAVY = {
  fields: ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'],
  timestampFormat: 'ISO8601',
  timeZone: 'Europe/Paris',
  timestampPrecision: 'MICROSECONDS',
};

export const sha256 = (data: Buffer | string) => crypto.createHash('sha256').update(data).digest('hex');

/** One SQL statement on a database (the test's own, or none for root-level statements such as KILL). */
export async function sql<T = any>(databaseUrl: string, statement: string, params: unknown[] = []): Promise<T[]> {
  const conn = await createConnection(databaseUrl);
  try {
    const [rows] = await conn.query(statement, params);
    return rows as T[];
  } finally {
    await conn.end();
  }
}

/**
 * Kills the export runner's own connection (the one streaming the SELECT on event in this store's
 * database), a real transient fault; returns when it was killed.
 */
export async function killRunnerConnection(store: TestStore, how: 'KILL' | 'KILL QUERY' = 'KILL'): Promise<number> {
  const dbName = new URL(store.databaseUrl).pathname.slice(1);
  const conns = await waitFor(
    async () => {
      const rows = await sql<{ id: number }>(
        MYSQL_ROOT,
        `SELECT id FROM information_schema.processlist WHERE db = ? AND command = 'Query' AND info LIKE 'SELECT%FROM event%' AND info NOT LIKE '%COUNT(%'`,
        [dbName],
      );
      // exactly one: a connection killed a moment ago may still be listed while it goes
      return rows.length === 1 ? rows : undefined;
    },
    "the runner's SELECT (and only it) in the process list",
    10_000,
    20,
  );
  await sql(MYSQL_ROOT, `${how} ${Number(conns[0].id)}`);
  return Date.now();
}

export interface ExportRow {
  id: string;
  user_id: string;
  status: string;
  attempt: number;
  lease_owner: string | null;
  lease_expires: number | null;
  requested_on: number;
  started_on: number | null;
  completed_on: number | null;
  updated_on: number;
  records_processed: number;
  sha256: string | null;
  file_name: string | null;
  message: string | null;
}

/** data_export rows straight from the database, the truth the workers share. */
export async function exportRows(store: TestStore, ids?: string[]): Promise<ExportRow[]> {
  const rows = await sql<ExportRow>(
    store.databaseUrl,
    `SELECT id, user_id, status, attempt, lease_owner, lease_expires, requested_on, started_on, completed_on, updated_on, records_processed, sha256, file_name, message
     FROM data_export ${ids ? 'WHERE id IN (?)' : ''} ORDER BY requested_on, id`,
    ids ? [ids] : [],
  );
  return rows.map((r) => ({
    ...r,
    attempt: Number(r.attempt),
    lease_expires: r.lease_expires === null ? null : Number(r.lease_expires),
    requested_on: Number(r.requested_on),
    started_on: r.started_on === null ? null : Number(r.started_on),
    completed_on: r.completed_on === null ? null : Number(r.completed_on),
    updated_on: Number(r.updated_on),
    records_processed: Number(r.records_processed),
  }));
}

export async function exportRow(store: TestStore, id: string): Promise<ExportRow> {
  const [row] = await exportRows(store, [id]);
  if (!row) throw new Error(`no data_export row ${id}`);
  return row;
}

/** Users made in one process through the same service the CLI uses (50 CLI processes would take most of a minute). */
export async function createUsers(store: TestStore, emails: string[]): Promise<{ id: string; email: string; token: string }[]> {
  const script = `
    const { loadConfig } = require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'config'))});
    const { createServices } = require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'services'))});
    (async () => {
      const services = await createServices(loadConfig());
      const out = [];
      for (const email of JSON.parse(process.env.EMAILS)) {
        const { user, token } = await services.users.createUser(email);
        out.push({ id: user.id, email: user.email, token });
      }
      await services.ds.destroy();
      process.stdout.write(JSON.stringify(out));
    })().catch((err) => { process.stderr.write(String(err.stack)); process.exit(1); });`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { env: store.env({ EMAILS: JSON.stringify(emails), LOG_LEVEL: 'warn' }) });
  return JSON.parse(stdout);
}

/** createExport through GraphQL; returns the envelope. */
export async function createExport(server: TestServer, token: string, input: Record<string, unknown>): Promise<{ responseCode: string; message: string | null; item: { id: string } | null }> {
  const d = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message item { id } } }', { i: input }, token);
  return d.createExport;
}

export async function exportId(server: TestServer, token: string, input: Record<string, unknown>): Promise<string> {
  const res = await createExport(server, token, input);
  if (res.responseCode !== 'SUCCESS' || !res.item) throw new Error(`createExport: ${res.responseCode} ${res.message}`);
  return res.item.id;
}

/** GET of a finished export; the body as CSV bytes (gunzipped when it came gzip-encoded). */
export function download(server: TestServer, token: string, id: string, gzip = false): Promise<{ status: number; csv: Buffer; encoding?: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) };
    const req = http.get(`${server.url}/api/v3/data/exports/${id}`, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const encoding = res.headers['content-encoding'];
        try {
          resolve({ status: res.statusCode as number, csv: encoding === 'gzip' ? zlib.gunzipSync(body) : body, encoding });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
  });
}

/** Files in EXPORTS_DIR, optionally those of one export. */
export function exportFiles(dir: string, id?: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => !id || f.startsWith(`${id}.`)).sort();
}

export const tmpFiles = (dir: string) => exportFiles(dir).filter((f) => f.endsWith('.tmp'));

/** Waits until the export is GENERATING on some worker with rows already written; returns its row. */
export function waitUntilWriting(store: TestStore, id: string, attempt?: number, timeoutMs = 60_000): Promise<ExportRow> {
  return waitFor(
    async () => {
      const row = await exportRow(store, id);
      if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(row.status)) throw new Error(`export ${id} ended ${row.status} before the fault: ${row.message}`);
      return row.status === 'GENERATING' && row.records_processed > 0 && (attempt === undefined || row.attempt === attempt) ? row : undefined;
    },
    `export ${id} to be writing rows${attempt ? ` on attempt ${attempt}` : ''}`,
    timeoutMs,
    25,
  );
}

/** Paths in EXPORTS_DIR that a process still holds open (a stale worker must hold none). */
export function openExportFiles(pid: number, dir: string): string[] {
  const fdDir = `/proc/${pid}/fd`;
  const out: string[] = [];
  for (const fd of fs.readdirSync(fdDir)) {
    try {
      const target = fs.readlinkSync(path.join(fdDir, fd));
      if (target.startsWith(dir)) out.push(target);
    } catch {
      // closed while we looked
    }
  }
  return out;
}

/** Every process a test file starts, so afterAll can end them all whatever happened. */
export class Processes {
  private readonly servers: TestServer[] = [];
  private readonly workers: TestWorker[] = [];

  async server(store: TestStore, env: Record<string, string> = {}): Promise<TestServer> {
    const server = new TestServer(store, env);
    this.servers.push(server);
    await server.start();
    return server;
  }

  async worker(store: TestStore, env: Record<string, string> = {}): Promise<TestWorker> {
    const worker = new TestWorker(store, env);
    this.workers.push(worker);
    await worker.start();
    return worker;
  }

  /** kill -9 for everything still running (stopped ones included). */
  async killAll(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.kill()));
    await Promise.all(
      this.servers.map(async (s) => {
        const child = serverProcess(s);
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }),
    );
  }
}

/**
 * A TCP proxy in front of MariaDB, so a test can take "the database" away from one server without
 * touching the MariaDB that other tests share: down() refuses and cuts connections, hang() accepts
 * and holds them silent (data stays buffered), up()/resume() bring it back on the same port.
 */
export class TcpProxy {
  port = 0;
  private server?: net.Server;
  private readonly pairs = new Set<{ client: net.Socket; upstream?: net.Socket }>();
  private hung = false;

  constructor(private readonly target = { host: '127.0.0.1', port: 3306 }) {}

  async up(): Promise<void> {
    this.hung = false;
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  private accept(client: net.Socket): void {
    const pair: { client: net.Socket; upstream?: net.Socket } = { client };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    });
    if (this.hung) client.pause();
    else this.connect(pair);
  }

  private connect(pair: { client: net.Socket; upstream?: net.Socket }): void {
    const upstream = net.connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => pair.client.destroy());
    upstream.on('close', () => pair.client.destroy());
    pair.client.pipe(upstream);
    upstream.pipe(pair.client);
  }

  /** The database is gone: no new connections, and the open ones are cut. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const pair of this.pairs) {
      pair.upstream?.destroy();
      pair.client.destroy();
    }
    await closed;
  }

  /** The database hangs: connections stay open but nothing comes back. */
  hang(): void {
    this.hung = true;
    for (const pair of this.pairs) {
      if (!pair.upstream) continue;
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.client.pause();
      pair.upstream.pause();
    }
  }

  resume(): void {
    this.hung = false;
    for (const pair of this.pairs) {
      if (pair.upstream) {
        pair.client.pipe(pair.upstream);
        pair.upstream.pipe(pair.client);
      } else {
        this.connect(pair);
      }
    }
  }
}

/** A line for the closing note: what a fault test observed. */
export function observed(what: string, facts: Record<string, unknown>): void {
  process.stdout.write(`[faults] ${what}: ${Object.entries(facts).map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v) : JSON.stringify(v)}`).join(' ')}\n`);
}
