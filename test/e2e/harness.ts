import { ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';

const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'main.js');
const CLI = path.join(ROOT, 'bin', 'sluice.js');
const MYSQL_ROOT = 'mysql://root@127.0.0.1:3306';

export type Store = 'sqlite' | 'mysql';
export const STORE: Store = process.env.DB === 'mysql' ? 'mysql' : 'sqlite';

/** Polls until `check` returns a value that is not undefined/false, or fails with the last value seen. */
export async function waitFor<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A store of its own for one test file: a SQLite file in a temp dir, or a fresh MariaDB database. */
export class TestStore {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-'));
  readonly databaseUrl: string;
  private readonly dbName = `sluice_e2e_${process.pid}_${Math.floor(Math.random() * 1e6)}`;

  constructor(readonly store: Store = STORE) {
    this.databaseUrl = store === 'sqlite' ? `sqlite:${path.join(this.dir, 'sluice.sqlite')}` : `${MYSQL_ROOT}/${this.dbName}`;
  }

  get exportsDir(): string {
    return path.join(this.dir, 'exports');
  }

  async create(): Promise<void> {
    if (this.store !== 'mysql') return;
    const conn = await createConnection(MYSQL_ROOT);
    await conn.query(`CREATE DATABASE \`${this.dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await conn.end();
  }

  async drop(): Promise<void> {
    if (this.store === 'mysql') {
      const conn = await createConnection(MYSQL_ROOT);
      await conn.query(`DROP DATABASE IF EXISTS \`${this.dbName}\``);
      await conn.end();
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...(process.env as Record<string, string>),
      DATABASE_URL: this.databaseUrl,
      EXPORTS_DIR: this.exportsDir,
      SLUICE_DEMO: '0',
      LOG_LEVEL: 'info',
      ...extra,
    };
  }

  /** Runs `sluice <args>` and parses its JSON answer. */
  async cli<T = Record<string, unknown>>(args: string[], extraEnv: Record<string, string> = {}): Promise<T> {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, ...args], { env: this.env(extraEnv), maxBuffer: 16 * 1024 * 1024 });
    return JSON.parse(stdout.trim().split('\n').pop() as string) as T;
  }

  /** A user and a dataset of theirs holding `events` seeded events: the start of most scenarios. */
  async seededUser(email: string, events: number, datasetName = 'sensors'): Promise<{ token: string; dataset: string }> {
    const { token } = await this.cli<{ token: string }>(['user', 'create', '--email', email]);
    const { id: dataset } = await this.cli<{ id: string }>(['dataset', 'create', '--name', datasetName, '--owner', email]);
    await this.cli(['seed', '--dataset', dataset, '--events', String(events)]);
    return { token, dataset };
  }

  /** Runs `sluice <args>` expecting it to fail; returns its exit code and stderr. */
  async cliFails(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stderr: string; stdout: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: this.env(extraEnv) }, (err, stdout, stderr) => {
        resolve({ code: (err as { code?: number } | null)?.code ?? 0, stderr, stdout });
      });
    });
  }
}

/** A real server process on a free port. */
export class TestServer {
  private child?: ChildProcess;
  port = 0;
  logs = '';

  constructor(
    private readonly store: TestStore,
    private readonly extraEnv: Record<string, string> = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child?.pid as number;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [MAIN], { env: this.store.env({ PORT: '0', ...this.extraEnv }), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (d) => (this.logs += d));
    child.stderr.on('data', (d) => (this.logs += d));
    this.port = await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${this.logs}`);
        const m = /"port":(\d+)[^\n]*sluice listening/.exec(this.logs);
        return m ? Number(m[1]) : undefined;
      },
      'the server to listen',
      60_000,
      50,
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Peak resident memory of the server process so far, in MB (Linux VmHWM). */
  peakRssMb(): number {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
  }

  async gql<T = any>(query: string, variables: Record<string, unknown> = {}, token?: string, pathName = '/graphql'): Promise<{ status: number; body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] } }> {
    const res = await fetch(`${this.url}${pathName}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: (await res.json()) as never };
  }

  /** The data of a query that must succeed. */
  async data<T = any>(query: string, variables: Record<string, unknown>, token: string): Promise<T> {
    const { status, body } = await this.gql<T>(query, variables, token);
    if (status !== 200 || body.errors) throw new Error(`GraphQL failed (${status}): ${JSON.stringify(body.errors)}`);
    return body.data as T;
  }
}

export const EXPORT_STATUS_QUERY = `query ($id: String!) { me { export(id: $id) {
  id requestedOn status { recordsEstimate recordsProcessed status queuePosition message }
  result { completedOn compressedSizeInBytes sizeInBytes sha256 truncated } } } }`;

/** Polls an export until it reaches one of the given states; returns it. */
export async function waitForExport(server: TestServer, token: string, id: string, states = ['COMPLETED'], timeoutMs = 120_000) {
  const terminal = ['COMPLETED', 'FAILED', 'CANCELLED'];
  return waitFor(
    async () => {
      const data = await server.data(EXPORT_STATUS_QUERY, { id }, token);
      const e = data.me.export;
      if (states.includes(e.status.status)) return e;
      if (terminal.includes(e.status.status)) throw new Error(`export ${id} ended ${e.status.status}: ${e.status.message}`);
      return undefined;
    },
    `export ${id} to reach ${states.join('/')}`,
    timeoutMs,
    100,
  );
}

/** RFC 4180 parser for checking what we wrote (quoted fields may hold commas, quotes, CR and LF). */
/** A request the way curl makes it: no Accept-Encoding unless asked, the body returned as sent. */
export function rawRequest(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode as number, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

import { Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

/** A graphql-ws client for the server; `closed` resolves with the close code if the server closes it. */
export function wsClient(server: TestServer, token: string | null, pathName = '/graphql'): { client: Client; closed: Promise<{ code: number; reason: string }> } {
  let onClosed: (v: { code: number; reason: string }) => void = () => undefined;
  const closed = new Promise<{ code: number; reason: string }>((r) => (onClosed = r));
  const client = createClient({
    url: `ws://127.0.0.1:${server.port}${pathName}`,
    webSocketImpl: WebSocket,
    connectionParams: token === null ? {} : { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
    on: { closed: (e) => onClosed({ code: (e as { code: number }).code, reason: String((e as { reason: string }).reason) }) },
  });
  return { client, closed };
}

export interface Collected<T> {
  messages: { at: number; data: T }[];
  errors: unknown[];
  /** Resolves when the server completes the subscription (or it errors). */
  done: Promise<void>;
  stop: () => void;
}

/** Subscribes and records every message with its arrival time. */
export function collect<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}): Collected<T> {
  const out: Collected<T> = { messages: [], errors: [], done: Promise.resolve(), stop: () => undefined };
  out.done = new Promise<void>((resolve) => {
    out.stop = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) out.errors.push(...value.errors);
          if (value.data) out.messages.push({ at: Date.now(), data: value.data as T });
        },
        error: (err) => {
          out.errors.push(err);
          resolve();
        },
        complete: () => resolve(),
      },
    );
  });
  return out;
}

/** A `sluice worker` process (no HTTP): started, signalled, killed; its JSON log lines kept for assertions. */
export class TestWorker {
  private child?: ChildProcess;
  logs = '';
  /** Resolves when the process exits, with its exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });

  constructor(
    private readonly store: TestStore,
    private readonly extraEnv: Record<string, string> = {},
  ) {}

  get pid(): number {
    return this.child?.pid as number;
  }

  get alive(): boolean {
    return Boolean(this.child) && this.child?.exitCode === null && this.child?.signalCode === null;
  }

  /** The lease owner this worker writes into data_export.lease_owner. */
  get owner(): string {
    return (/"owner":"([^"]+)"[^\n]*export worker started/.exec(this.logs) ?? [])[1] as string;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [CLI, 'worker'], { env: this.store.env(this.extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (d) => (this.logs += d));
    child.stderr.on('data', (d) => (this.logs += d));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}: ${this.logs}`);
        return this.owner !== undefined;
      },
      'the worker to start',
      60_000,
      50,
    );
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child?.kill(signal);
  }

  /** kill -9 (also ends a stopped process); resolves once it is gone. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. */
  async stop(graceMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.alive) return this.exited;
    this.child?.kill('SIGCONT');
    this.child?.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  /** Its log lines (pino JSON) whose message matches. */
  lines(msg: RegExp): Record<string, any>[] {
    return this.logs
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((l) => msg.test(String(l.msg)));
  }
}

/** The process behind a TestServer: for tests that signal it or check how it exited. */
export function serverProcess(server: TestServer): ChildProcess {
  return (server as unknown as { child: ChildProcess }).child;
}
