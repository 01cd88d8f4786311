/**
 * `npm run bench`: export speed against the mysql client (MariaDB) and the sqlite3 shell (SQLite),
 * worker memory, server responsiveness while exports run, and download speed against a bare node:http
 * server streaming the same file (nginx with sendfile reported beside it). Prints figures, ratios and a
 * markdown table, and writes bench/results/latest.json (`node dist/bench/check-results.js` checks that
 * it has every key). It asserts nothing about time: it fails only on real errors.
 *
 *   npm run bench -- [--events N] [--runs R] [--database-url mysql://…] [--profile] [--keep]
 *
 * --events N        events in the bench dataset (default 5 000 000); seeded once, reused after
 * --runs R          timed runs of each side of the export comparison (default 3)
 * --database-url U  the MariaDB/MySQL bench database (default $BENCH_DATABASE_URL or
 *                   mysql://root@127.0.0.1:3306/sluice_bench); created when missing
 * --profile         run the memory phase's worker processes with `node --cpu-prof` and print
 *                   the functions with the most self time
 * --keep            keep the scratch directory (server and worker logs, export files, profiles)
 * --only P          one part alone, for working on it: `sqlite` (the SQLite export ratio) or
 *                   `download` (one MariaDB export, then the download ratio); prints its figures and
 *                   writes no results file
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { format as formatSql } from 'mysql2';
import { mysqlConnectionOptions } from '../src/db/data-source';
import { csvWriter } from '../src/exports/formats/csv';
import { buildExportQuery } from '../src/exports/export-query';
import { DEFAULT_FIELDS, ExportParams } from '../src/exports/params';
import {
  BenchError, CLI, Client, Proc, REPO, SERVER_MAIN, log, median, percentile, round, sampleMemory, readMemory,
  shell, sleep, sluiceCli, startProcess, stopAll,
} from './harness';
import { benchLatest } from './latest';
import { nginxFileServer } from './nginx';
import { sqliteExportSpeed } from './sqlite';
import { formatsBench, formatsTable } from './formats';
import { summariseProfiles } from './profile';

/** The references compress at gzip's default level, as the bars are set against `gzip -6`. */
const GZIP_LEVEL = 6;
const LATENCY_REQUESTS = 200;
const SMALL_EXPORT = 1_000_000;
const MB = 1024 * 1024;
const USERS = ['bench@sluice.bench', 'bench2@sluice.bench'];

interface Options {
  events: number;
  runs: number;
  databaseUrl: string;
  profile: boolean;
  keep: boolean;
  only: 'sqlite' | 'download' | null;
}

function options(): Options {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      events: { type: 'string' },
      runs: { type: 'string' },
      'database-url': { type: 'string' },
      profile: { type: 'boolean' },
      keep: { type: 'boolean' },
      only: { type: 'string' },
    },
  });
  const only = values.only ?? null;
  if (only !== null && only !== 'sqlite' && only !== 'download') throw new BenchError(`--only must be sqlite or download, not ${JSON.stringify(only)}`);
  const int = (name: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) throw new BenchError(`--${name} must be a positive whole number, not ${JSON.stringify(raw)}`);
    return n;
  };
  const databaseUrl = values['database-url'] ?? process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/sluice_bench';
  if (!/^(mysql|mariadb):\/\//.test(databaseUrl)) throw new BenchError(`the bench needs a MySQL/MariaDB database URL, not ${databaseUrl}`);
  return { events: int('events', values.events, 5_000_000), runs: int('runs', values.runs, 3), databaseUrl, profile: Boolean(values.profile), keep: Boolean(values.keep), only };
}

// ---------------------------------------------------------------- GraphQL operations

interface ExportState {
  status: { status: string; recordsProcessed: number; message: string | null };
  result: { sizeInBytes: number; compressedSizeInBytes: number; sha256: string } | null;
}

async function createExport(client: Client, datasetId: number, name: string, limit?: number): Promise<string> {
  const data = await client.graphql<{ createExport: { responseCode: string; message: string | null; item: { id: string } | null } }>(
    'mutation ($input: CreateExportInput!) { createExport(input: $input) { responseCode message item { id } } }',
    { input: { name, dataRange: { datasets: [String(datasetId)] }, ...(limit !== undefined ? { limit } : {}) } },
  );
  const r = data.createExport;
  if (r.responseCode !== 'SUCCESS' || !r.item) throw new BenchError(`createExport: ${r.responseCode} ${r.message ?? ''}`);
  return r.item.id;
}

async function exportState(client: Client, id: string): Promise<ExportState> {
  const data = await client.graphql<{ me: { export: ExportState | null } }>(
    'query ($id: String!) { me { export(id: $id) { status { status recordsProcessed message } result { sizeInBytes compressedSizeInBytes sha256 } } } }',
    { id },
  );
  if (!data.me.export) throw new BenchError(`export ${id} has disappeared`);
  return data.me.export;
}

/** An export that no worker picks up within this long means something is broken, not slow. */
const QUEUING_TIMEOUT_MS = 60_000;
/** Generous: no bench export should take this long, but a hang must end the bench rather than stall it. */
const GENERATING_TIMEOUT_MS = 30 * 60_000;

/** Polls until the export reaches one of `wanted`; a FAILED or CANCELLED export that was not wanted is an error. */
async function waitForStatus(client: Client, id: string, wanted: string[], pollMs: number): Promise<ExportState> {
  const started = Date.now();
  let generatingSince: number | null = null;
  for (;;) {
    const state = await exportState(client, id);
    const status = state.status.status;
    if (wanted.includes(status)) return state;
    if (status === 'FAILED' || status === 'CANCELLED') throw new BenchError(`export ${id} ${status}: ${state.status.message ?? 'no message'}`);
    if (status === 'GENERATING') generatingSince ??= Date.now();
    if (status === 'QUEUING' && Date.now() - started > QUEUING_TIMEOUT_MS) {
      throw new BenchError(`export ${id} was still QUEUING after ${QUEUING_TIMEOUT_MS / 1000} s: no worker claimed it`);
    }
    if (generatingSince !== null && Date.now() - generatingSince > GENERATING_TIMEOUT_MS) {
      throw new BenchError(`export ${id} was still GENERATING after ${GENERATING_TIMEOUT_MS / 60_000} min (${state.status.recordsProcessed} records processed)`);
    }
    await sleep(pollMs);
  }
}

/** Waits until the export is GENERATING and has reported rows: the window starts in the steady state, not at thread start. */
async function waitForRows(client: Client, id: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    const state = await waitForStatus(client, id, ['GENERATING'], 20);
    if (state.status.recordsProcessed > 0) return;
    if (Date.now() - started > QUEUING_TIMEOUT_MS) throw new BenchError(`export ${id} reported no processed records within ${QUEUING_TIMEOUT_MS / 1000} s`);
    await sleep(20);
  }
}

async function exportMutation(client: Client, id: string, action: 'cancel' | 'remove'): Promise<void> {
  const data = await client.graphql<{ onExport: Record<string, { responseCode: string; message: string | null }> }>(
    `mutation ($id: String!) { onExport(id: $id) { ${action} { responseCode message } } }`,
    { id },
  );
  const r = data.onExport[action];
  if (r.responseCode !== 'SUCCESS') throw new BenchError(`${action} of export ${id}: ${r.responseCode} ${r.message ?? ''}`);
}

async function meLatencies(client: Client, count: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await client.graphql('{ me { id } }');
    ms.push(performance.now() - started);
  }
  return ms;
}

// ---------------------------------------------------------------- bench database

interface Fixture {
  datasetId: number;
  tokens: string[];
  seededNow: boolean;
}

async function prepareDatabase(opts: Options, env: NodeJS.ProcessEnv): Promise<Fixture> {
  const conn = mysqlConnectionOptions(opts.databaseUrl);
  const server = await mysql.createConnection({ host: conn.host, port: conn.port, user: conn.user, password: conn.password }).catch((err: Error) => {
    throw new BenchError(`cannot connect to MariaDB/MySQL at ${conn.host}:${conn.port} as ${conn.user} (${err.message}): is it running? (--database-url or BENCH_DATABASE_URL)`);
  });
  await server.query(`CREATE DATABASE IF NOT EXISTS \`${conn.database.replace(/`/g, '``')}\``);
  await server.end();
  sluiceCli(['migrate'], env);

  const db = await mysql.createConnection(conn);
  try {
    const tokens: string[] = [];
    const userIds: string[] = [];
    for (const email of USERS) {
      const [rows] = await db.query<mysql.RowDataPacket[]>('SELECT id FROM `user` WHERE email = ?', [email]);
      const answer = rows.length ? sluiceCli(['token', 'create', '--email', email], env) : sluiceCli(['user', 'create', '--email', email], env);
      tokens.push(String(answer.token));
      const [again] = await db.query<mysql.RowDataPacket[]>('SELECT id FROM `user` WHERE email = ?', [email]);
      userIds.push(String(again[0].id));
    }
    // Exports left by an earlier, interrupted run would be picked up by this run's workers.
    await db.query('DELETE FROM data_export WHERE user_id IN (?)', [userIds]);

    const name = `bench-${opts.events}`;
    const [datasets] = await db.query<mysql.RowDataPacket[]>('SELECT id FROM dataset WHERE name = ? ORDER BY id LIMIT 1', [name]);
    const datasetId = datasets.length ? Number(datasets[0].id) : Number(sluiceCli(['dataset', 'create', '--name', name, '--owner', USERS[0]], env).id);
    sluiceCli(['dataset', 'grant', '--dataset', String(datasetId), '--email', USERS[1], '--permission', 'READ'], env);

    const [counted] = await db.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM event WHERE dataset_id = ?', [datasetId]);
    const present = Number(counted[0].n);
    let seededNow = false;
    if (present === opts.events) {
      log(`dataset ${name} (id ${datasetId}) already holds ${present} events: reusing it`);
    } else {
      if (present > 0) {
        log(`dataset ${name} holds ${present} events, not ${opts.events}: emptying it`);
        await db.query('DELETE FROM event WHERE dataset_id = ?', [datasetId]);
      }
      log(`seeding ${opts.events} events into dataset ${name} (id ${datasetId}) with \`sluice seed\`…`);
      const started = performance.now();
      const res = sluiceCli(['seed', '--dataset', String(datasetId), '--events', String(opts.events)], env);
      if (Number(res.inserted) !== opts.events) throw new BenchError(`sluice seed inserted ${String(res.inserted)}, not ${opts.events}`);
      log(`seeded in ${round((performance.now() - started) / 1000, 1)} s`);
      seededNow = true;
    }
    return { datasetId, tokens, seededNow };
  } finally {
    await db.end();
  }
}

/** The SELECT an export of the whole dataset with default settings runs, with its parameters inlined. */
function exportSelect(datasetId: number, dialect: 'mysql' | 'sqlite' = 'mysql'): string {
  const params: ExportParams = {
    datasetIds: [datasetId], metrics: null, timestampPrecision: 'MILLISECONDS', fields: [...DEFAULT_FIELDS], filter: null,
    from: null, to: null, limit: null, header: true, timestampFormat: 'EPOCH', timeZone: 'UTC', excelSafe: false, maxRecords: 50_000_000,
  };
  const query = buildExportQuery(params, csvWriter(params).columns, dialect);
  return formatSql(query.select, query.params as Parameters<typeof formatSql>[1]);
}

// ---------------------------------------------------------------- processes

async function startServer(label: string, env: NodeJS.ProcessEnv, scratch: string): Promise<{ proc: Proc; baseUrl: string }> {
  const proc = startProcess(label, [SERVER_MAIN], env, path.join(scratch, `${label}.log`));
  const line = await proc.waitForLine(/sluice listening/);
  const port = Number(/"port":(\d+)/.exec(line)?.[1]);
  if (!port) throw new BenchError(`${label}: could not read the port from: ${line}`);
  return { proc, baseUrl: `http://127.0.0.1:${port}` };
}

async function startWorker(label: string, env: NodeJS.ProcessEnv, scratch: string, profileDir: string | null): Promise<Proc> {
  const flags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const proc = startProcess(label, [...flags, CLI, 'worker'], env, path.join(scratch, `${label}.log`));
  await proc.waitForLine(/export worker started/);
  return proc;
}

function exportFile(exportsDir: string, id: string): string {
  const name = fs.readdirSync(exportsDir).find((f) => f.startsWith(`${id}.`) && f.endsWith('.csv.gz'));
  if (!name) throw new BenchError(`the file of export ${id} is not in ${exportsDir}`);
  return path.join(exportsDir, name);
}

// ---------------------------------------------------------------- the phases

async function responsiveness(clients: Client[], datasetId: number) {
  const [a, b] = clients;
  await meLatencies(a, 20); // warm-up: JIT, connection pool
  const idle = await meLatencies(a, LATENCY_REQUESTS);
  log(`idle: p50 ${round(percentile(idle, 50))} ms, p99 ${round(percentile(idle, 99))} ms`);

  // Two users, so that the queue's one-export-per-user fairness cannot keep the second one waiting.
  const ids = [await createExport(a, datasetId, 'bench busy A'), await createExport(b, datasetId, 'bench busy B')];
  await Promise.all(ids.map((id, i) => waitForRows(clients[i], id)));
  const before = await Promise.all(ids.map((id, i) => exportState(clients[i], id)));
  const busy = await meLatencies(a, LATENCY_REQUESTS);
  const after = await Promise.all(ids.map((id, i) => exportState(clients[i], id)));
  const covered = after.every((s) => s.status.status === 'GENERATING');
  log(`two exports generating: p50 ${round(percentile(busy, 50))} ms, p99 ${round(percentile(busy, 99))} ms` +
    ` (records processed during the window: ${before.map((s, i) => after[i].status.recordsProcessed - s.status.recordsProcessed).join(' + ')})`);
  if (!covered) log('warning: an export finished before the 200 requests did; the busy figures cover part of the window only');
  for (const [i, id] of ids.entries()) {
    await exportMutation(clients[i], id, 'cancel').catch(() => undefined); // COMPLETED already is fine
    await waitForStatus(clients[i], id, ['CANCELLED', 'COMPLETED'], 50);
    await exportMutation(clients[i], id, 'remove');
  }
  await sleep(1000); // let the cancelled threads wind down before anything is timed
  return { idle, busy, covered };
}

async function exportSpeed(opts: Options, client: Client, datasetId: number, scratch: string, env: NodeJS.ProcessEnv) {
  const conn = mysqlConnectionOptions(opts.databaseUrl);
  const refEnv = { ...env, BENCH_SQL: exportSelect(datasetId), BENCH_OUT: path.join(scratch, 'reference.tsv.gz'), ...(conn.password ? { MYSQL_PWD: conn.password } : {}) };
  const mysqlArgs = [
    '--batch', '--quick', '--skip-column-names', '--default-character-set=utf8mb4',
    '-h', conn.host, '-P', String(conn.port), '-u', conn.user, conn.database,
  ].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const reference = async () => {
    const { seconds } = await shell(`mysql ${mysqlArgs} -e "$BENCH_SQL" | gzip -${GZIP_LEVEL} > "$BENCH_OUT"`, refEnv);
    return { seconds, compressedBytes: fs.statSync(refEnv.BENCH_OUT).size };
  };
  const sluice = async (run: number) => {
    const started = performance.now();
    const id = await createExport(client, datasetId, `bench speed ${run}`);
    const state = await waitForStatus(client, id, ['COMPLETED'], 50);
    const seconds = (performance.now() - started) / 1000;
    if (state.status.recordsProcessed !== opts.events) throw new BenchError(`export ${id} wrote ${state.status.recordsProcessed} records, not ${opts.events}`);
    return { id, seconds, result: state.result! };
  };

  log(`reference: mysql ${opts.events} rows | gzip -${GZIP_LEVEL} (warm-up run, not counted)…`);
  await reference();
  const refRuns: { seconds: number; compressedBytes: number }[] = [];
  const sluiceRuns: Awaited<ReturnType<typeof sluice>>[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    const r = await reference();
    refRuns.push(r);
    log(`run ${run}/${opts.runs} reference: ${round(r.seconds)} s (${round(opts.events / r.seconds, 0)} rows/s)`);
    const s = await sluice(run);
    sluiceRuns.push(s);
    log(`run ${run}/${opts.runs} sluice:    ${round(s.seconds)} s (${round(opts.events / s.seconds, 0)} rows/s)`);
    if (run < opts.runs) await exportMutation(client, s.id, 'remove'); // the last one is kept for the download phase
  }
  fs.rmSync(refEnv.BENCH_OUT, { force: true });
  return { refRuns, sluiceRuns, kept: sluiceRuns[sluiceRuns.length - 1] };
}

/**
 * Rounds of the download comparison. One download of the 24 MB file takes about 50 ms, and single ones
 * spread from 40 to 100 ms on either server (the machine's other processes), so the medians need many.
 */
function downloadRuns(runs: number): number {
  return Math.max(10 * runs, 25);
}

async function download(client: Client, id: string, file: string, runs: number, scratch: string) {
  const size = fs.statSync(file).size;
  // Timed inside the shell, so bash's own start-up is not counted against cat.
  const cat = async () => {
    const { stdout } = await shell('s=$EPOCHREALTIME; cat "$BENCH_FILE" > /dev/null; e=$EPOCHREALTIME; echo "$s $e"', { ...process.env, BENCH_FILE: file });
    const [s, e] = stdout.trim().replace(/,/g, '.').split(' ').map(Number);
    return e - s;
  };
  const get = async () => {
    const r = await client.download(`/api/v3/data/exports/${id}`);
    if (r.bytes !== size) throw new BenchError(`download of ${id} gave ${r.bytes} bytes, the stored file has ${size}`);
    if (r.encoding !== 'gzip') throw new BenchError(`download of ${id} came with Content-Encoding ${r.encoding ?? 'none'}, not gzip`);
    return r.seconds;
  };
  // What plain Node can do on this machine: node:http streaming the same file, no auth, no database.
  const plain = await startPlainFileServer(file, scratch);
  const plainGet = async () => {
    const r = await new Client(plain.baseUrl, '').download('/');
    if (r.bytes !== size) throw new BenchError(`the plain file server sent ${r.bytes} bytes, not ${size}`);
    return r.seconds;
  };
  // What a deployment that offloads downloads gets: Debian's nginx serving the file with sendfile.
  const nginx = await nginxFileServer(file, scratch);
  const nginxGet = async () => {
    const r = await new Client(nginx.baseUrl, '').download(nginx.path);
    if (r.bytes !== size) throw new BenchError(`nginx sent ${r.bytes} bytes, not ${size}`);
    return r.seconds;
  };
  try {
    await cat(); // warm the page cache for every side
    await get();
    await plainGet();
    await nginxGet();
    const catSeconds: number[] = [];
    const getSeconds: number[] = [];
    const plainSeconds: number[] = [];
    const nginxSeconds: number[] = [];
    for (let i = 0; i < runs; i++) {
      getSeconds.push(await get());
      catSeconds.push(await cat());
      plainSeconds.push(await plainGet());
      nginxSeconds.push(await nginxGet());
    }
    return { size, catSeconds, getSeconds, plainSeconds, nginxSeconds };
  } finally {
    await plain.proc.stop();
    await nginx.proc.stop();
  }
}

const PLAIN_FILE_SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const { pipeline } = require('node:stream');
const file = process.argv[1];
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/csv', 'content-encoding': 'gzip', 'content-length': fs.statSync(file).size });
  pipeline(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), res, () => undefined);
});
server.listen(0, '127.0.0.1', () => console.log('plain file server port ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

async function startPlainFileServer(file: string, scratch: string): Promise<{ proc: Proc; baseUrl: string }> {
  const proc = startProcess('plain-file-server', ['-e', PLAIN_FILE_SERVER, file], process.env, path.join(scratch, 'plain-file-server.log'));
  const line = await proc.waitForLine(/plain file server port \d+/);
  return { proc, baseUrl: `http://127.0.0.1:${/port (\d+)/.exec(line)![1]}` };
}

async function memory(opts: Options, client: Client, datasetId: number, env: NodeJS.ProcessEnv, scratch: string, profileDir: string | null) {
  const one = async (label: string, limit: number | undefined, expected: number) => {
    const worker = await startWorker(label, env, scratch, profileDir);
    try {
      await sleep(500);
      const baseline = readMemory(worker.pid);
      const sampler = sampleMemory(worker.pid, 50);
      const started = performance.now();
      const id = await createExport(client, datasetId, `bench ${label}`, limit);
      const state = await waitForStatus(client, id, ['COMPLETED'], 200);
      const seconds = (performance.now() - started) / 1000;
      const m = sampler.stop();
      if (state.status.recordsProcessed !== expected) throw new BenchError(`export ${id} wrote ${state.status.recordsProcessed} records, not ${expected}`);
      await exportMutation(client, id, 'remove');
      const figures = {
        events: expected, seconds: round(seconds), baselineMb: round((baseline?.rssKb ?? NaN) / 1024, 1),
        peakRssMb: round(m.hwmKb / 1024, 1), maxSampledRssMb: round(m.maxRssKb / 1024, 1), samples: m.samples,
        maxRssMbByQuarter: m.quarterMaxRssKb.map((kb) => round(kb / 1024, 1)),
      };
      log(`${label}: ${expected} events in ${figures.seconds} s, worker VmHWM ${figures.peakRssMb} MB (baseline ${figures.baselineMb} MB; max VmRSS by quarter of the export: ${figures.maxRssMbByQuarter.join(' / ')} MB)`);
      return figures;
    } finally {
      await worker.stop();
    }
  };
  const small = Math.min(SMALL_EXPORT, opts.events);
  return {
    small: await one('worker-1M', small, small),
    large: await one('worker-full', undefined, opts.events),
  };
}

// ---------------------------------------------------------------- report

/** The commit measured, marked dirty when src/ has uncommitted changes. */
function gitState(): string | null {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return null;
  const dirty = git('status', '--porcelain', '--', 'src', 'package.json', 'package-lock.json').stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '-dirty' : ''}`;
}

function verdict(met: boolean): string {
  return met ? 'met' : '**not met**';
}

const num = (x: number) => Math.round(x).toLocaleString('en-US').replace(/,/g, ' ');

/** `--only`: one part's figures with the load average, no results file (the full run writes that). */
async function onlyPart(opts: Options, part: 'sqlite' | 'download', env: NodeJS.ProcessEnv, scratch: string, exportsDir: string): Promise<void> {
  const load = () => round(os.loadavg()[0], 2);
  if (part === 'sqlite') {
    const loadBefore = load();
    const sqlite = await sqliteExportSpeed({ events: opts.events, runs: opts.runs, gzipLevel: GZIP_LEVEL }, env, scratch, (id) => exportSelect(id, 'sqlite'), (url, label) => startServer(label, { ...env, DATABASE_URL: url, EXPORTS_DIR: path.join(scratch, 'exports-sqlite'), EXPORT_WORKERS: '1' }, scratch));
    const sluiceRate = opts.events / median(sqlite.exportSeconds);
    const refRate = opts.events / median(sqlite.referenceSeconds);
    process.stdout.write(`SQLite export, ${num(opts.events)} events: ${num(sluiceRate)} vs ${num(refRate)} rows/s = ${round(sluiceRate / refRate, 3)}x` +
      ` (sluice ${sqlite.exportSeconds.map((s) => round(s)).join(', ')} s; sqlite3 ${sqlite.referenceSeconds.map((s) => round(s)).join(', ')} s;` +
      ` gzip ${sqlite.exportGzipBytes} vs ${sqlite.referenceGzipBytes} B; load ${loadBefore} -> ${load()})\n`);
    return;
  }
  const loadBefore = load();
  const fixture = await prepareDatabase(opts, env);
  const server = await startServer('server', { ...env, EXPORT_WORKERS: '1' }, scratch);
  try {
    const client = new Client(server.baseUrl, fixture.tokens[0]);
    const id = await createExport(client, fixture.datasetId, 'bench download');
    await waitForStatus(client, id, ['COMPLETED'], 50);
    const dl = await download(client, id, exportFile(exportsDir, id), downloadRuns(opts.runs), scratch);
    await exportMutation(client, id, 'remove');
    const mbps = (seconds: number[]) => dl.size / MB / median(seconds);
    process.stdout.write(`download, ${num(dl.size)} B: ${round(mbps(dl.getSeconds), 1)} vs ${round(mbps(dl.plainSeconds), 1)} MB/s = ${round(mbps(dl.getSeconds) / mbps(dl.plainSeconds), 3)}x` +
      ` (nginx ${round(mbps(dl.nginxSeconds), 1)}, cat ${round(mbps(dl.catSeconds), 1)} MB/s; load ${loadBefore} -> ${load()})\n` +
      `  sluice s: ${dl.getSeconds.map((s) => round(s, 4)).join(' ')}\n  plain s:  ${dl.plainSeconds.map((s) => round(s, 4)).join(' ')}\n`);
  } finally {
    await server.proc.stop();
  }
}

/** The scratch directory, removed on Ctrl-C unless --keep. */
let scratchToRemove: string | null = null;

async function main(): Promise<void> {
  const opts = options();
  if (!fs.existsSync(SERVER_MAIN)) throw new BenchError('dist/ is missing: run `npm run build` first (npm run bench does)');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  if (!opts.keep) scratchToRemove = scratch;
  const exportsDir = path.join(scratch, 'exports');
  const profileDir = opts.profile ? path.join(scratch, 'profiles') : null;
  const env: NodeJS.ProcessEnv = {
    ...process.env, DATABASE_URL: opts.databaseUrl, EXPORTS_DIR: exportsDir, PORT: '0', SLUICE_DEMO: '0', LOG_LEVEL: 'info',
  };
  let failed = true;
  try {
    if (opts.only) {
      await onlyPart(opts, opts.only, env, scratch, exportsDir);
      failed = false;
      return;
    }
    log(`bench database ${opts.databaseUrl.replace(/\/\/[^@]*@/, '//***@')}, ${opts.events} events, scratch ${scratch}`);
    const fixture = await prepareDatabase(opts, env);

    // Phases 1-3 on a server with its in-process worker, two exports at once (the defaults).
    const s1 = await startServer('server', { ...env, EXPORT_WORKERS: '1', EXPORT_CONCURRENCY: '2' }, scratch);
    const clients = fixture.tokens.map((t) => new Client(s1.baseUrl, t));
    log('responsiveness: 200 sequential `{ me { id } }`, idle and then while two exports generate…');
    const latency = await responsiveness(clients, fixture.datasetId);
    log(`export speed: ${opts.runs} runs each, alternating reference and sluice…`);
    const speed = await exportSpeed(opts, clients[0], fixture.datasetId, scratch, env);
    log('download: GET (gzip passed through) against cat of the stored file…');
    const dl = await download(clients[0], speed.kept.id, exportFile(exportsDir, speed.kept.id), downloadRuns(opts.runs), scratch);
    await exportMutation(clients[0], speed.kept.id, 'remove');
    await s1.proc.stop();

    // Phase 4: a server without a worker, and a fresh `sluice worker` process per measured export.
    log('memory: a separate `sluice worker` process per export, sampling /proc/<pid>/status…');
    const s2 = await startServer('server-noworker', { ...env, EXPORT_WORKERS: '0' }, scratch);
    const mem = await memory(opts, new Client(s2.baseUrl, fixture.tokens[0]), fixture.datasetId, { ...env, EXPORT_CONCURRENCY: '1' }, scratch, profileDir);
    log('formats: every format against CSV, peak RSS at 1M and the full dataset, Parquet against CSV + DuckDB (bench/formats.ts)…');
    const formats = await formatsBench(s2.baseUrl, fixture.tokens[0], fixture.datasetId, opts.events, env, scratch, exportsDir);
    await s2.proc.stop();

    // Phase 5: the same export on the embedded store, against the sqlite3 shell.
    log(`SQLite export speed: ${opts.runs} runs each, alternating \`sqlite3 -csv | gzip -${GZIP_LEVEL}\` and sluice…`);
    const sqlite = await sqliteExportSpeed({ events: opts.events, runs: opts.runs, gzipLevel: GZIP_LEVEL }, env, scratch, (id) => exportSelect(id, 'sqlite'), (url, label) => startServer(label, { ...env, DATABASE_URL: url, EXPORTS_DIR: path.join(scratch, 'exports-sqlite'), EXPORT_WORKERS: '1' }, scratch));

    const refMedian = median(speed.refRuns.map((r) => r.seconds));
    const sluiceMedian = median(speed.sluiceRuns.map((r) => r.seconds));
    const exportRowsPerSec = opts.events / sluiceMedian;
    const referenceRowsPerSec = opts.events / refMedian;
    const catMBps = dl.size / MB / median(dl.catSeconds);
    const getMBps = dl.size / MB / median(dl.getSeconds);
    const plainMBps = dl.size / MB / median(dl.plainSeconds);
    const nginxMBps = dl.size / MB / median(dl.nginxSeconds);
    const sqliteRatio = median(sqlite.referenceSeconds) / median(sqlite.exportSeconds);
    const rssGrowth = mem.large.peakRssMb / mem.small.peakRssMb - 1;
    const results = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGb: round(os.totalmem() / 1024 ** 3, 1), node: process.version, platform: `${os.platform()} ${os.release()}` },
      commit: gitState(),
      events: opts.events,
      runs: opts.runs,
      exportRowsPerSec: Math.round(exportRowsPerSec),
      referenceRowsPerSec: Math.round(referenceRowsPerSec),
      exportRatio: round(exportRowsPerSec / referenceRowsPerSec, 3),
      sqliteExportRatio: round(sqliteRatio, 3),
      peakRssMb1M: mem.small.peakRssMb,
      peakRssMb5M: mem.large.peakRssMb,
      p50MsIdle: round(percentile(latency.idle, 50)),
      p99MsIdle: round(percentile(latency.idle, 99)),
      p50MsBusy: round(percentile(latency.busy, 50)),
      p99MsBusy: round(percentile(latency.busy, 99)),
      downloadRatio: round(getMBps / plainMBps, 3),
      nginxMBps: round(nginxMBps, 1),
      formats: formats.formats,
      parquetVsDuckdbRatio: formats.parquetVsDuckdbRatio,
      detail: {
        formats: { ...formats.detail, csv: formats.csv },
        exportSeconds: speed.sluiceRuns.map((r) => round(r.seconds, 3)),
        referenceSeconds: speed.refRuns.map((r) => round(r.seconds, 3)),
        exportCsvBytes: speed.kept.result.sizeInBytes,
        exportGzipBytes: speed.kept.result.compressedSizeInBytes,
        referenceGzipBytes: speed.refRuns[speed.refRuns.length - 1].compressedBytes,
        memory: mem,
        rssGrowthLargeVsSmall: round(rssGrowth, 3),
        busyWindowFullyCovered: latency.covered,
        busyWindow: 'starts once both exports report processed records, so it measures steady generation rather than thread start-up',
        maxMsIdle: round(Math.max(...latency.idle)),
        maxMsBusy: round(Math.max(...latency.busy)),
        download: {
          bytes: dl.size, getMBps: round(getMBps, 1), catMBps: round(catMBps, 1), plainNodeFileServerMBps: round(plainMBps, 1), nginxMBps: round(nginxMBps, 1),
          ratioVsCat: round(getMBps / catMBps, 3),
          getSeconds: dl.getSeconds.map((s) => round(s, 4)), catSeconds: dl.catSeconds.map((s) => round(s, 4)), plainSeconds: dl.plainSeconds.map((s) => round(s, 4)),
          nginxSeconds: dl.nginxSeconds.map((s) => round(s, 4)),
        },
        seededThisRun: fixture.seededNow,
        sqlite: {
          exportRowsPerSec: Math.round(opts.events / median(sqlite.exportSeconds)), referenceRowsPerSec: Math.round(opts.events / median(sqlite.referenceSeconds)),
          exportSeconds: sqlite.exportSeconds.map((s) => round(s, 3)), referenceSeconds: sqlite.referenceSeconds.map((s) => round(s, 3)),
          exportGzipBytes: sqlite.exportGzipBytes, referenceGzipBytes: sqlite.referenceGzipBytes, seededThisRun: sqlite.seededNow,
        },
        loadAverage: os.loadavg().map((l) => round(l, 2)),
      },
      bars: {
        exportRatio: { bar: '>= 0.9', met: exportRowsPerSec / referenceRowsPerSec >= 0.9 },
        sqliteExportRatio: { bar: '>= 0.8', met: sqliteRatio >= 0.8 },
        peakRss: { bar: '<= 250 MB at the full export and within 10% of the 1M figure', met: mem.large.peakRssMb <= 250 && Math.abs(rssGrowth) <= 0.1 },
        p99MsBusy: { bar: '<= 50 ms', met: percentile(latency.busy, 99) <= 50 },
        downloadRatio: { bar: '>= 0.9 x a bare node:http server', met: getMBps / plainMBps >= 0.9 },
      },
    };
    const out = path.join(REPO, 'bench', 'results', 'latest.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);

    const m = results.machine;
    const table = [
      `Sluice bench, ${num(opts.events)} events, ${results.date.slice(0, 10)}, commit ${results.commit} (${m.cpus} CPUs, ${m.memoryGb} GB, Node ${m.node}; medians of ${opts.runs} runs; load average at the end ${results.detail.loadAverage.join(' ')})`,
      '',
      '| measure | figure | bar | verdict |',
      '|---|---|---|---|',
      `| export speed on MariaDB: Sluice vs \`mysql -B \\| gzip -${GZIP_LEVEL}\` | ${num(exportRowsPerSec)} vs ${num(referenceRowsPerSec)} rows/s = **${results.exportRatio}×** | ≥ 0.9× | ${verdict(results.bars.exportRatio.met)} |`,
      `| export speed on SQLite: Sluice vs \`sqlite3 -csv \\| gzip -${GZIP_LEVEL}\` | ${num(results.detail.sqlite.exportRowsPerSec)} vs ${num(results.detail.sqlite.referenceRowsPerSec)} rows/s = **${results.sqliteExportRatio}×** | ≥ 0.8× | ${verdict(results.bars.sqliteExportRatio.met)} |`,
      `| worker peak RSS, ${num(mem.small.events)} events | ${mem.small.peakRssMb} MB | | |`,
      `| worker peak RSS, ${num(mem.large.events)} events | ${mem.large.peakRssMb} MB (${rssGrowth >= 0 ? '+' : ''}${round(rssGrowth * 100, 1)}% vs ${num(mem.small.events)}) | ≤ 250 MB, within 10% | ${verdict(results.bars.peakRss.met)} |`,
      `| \`{ me { id } }\` p50 / p99, idle | ${results.p50MsIdle} / ${results.p99MsIdle} ms | | |`,
      `| \`{ me { id } }\` p50 / p99, two exports generating | ${results.p50MsBusy} / ${results.p99MsBusy} ms | p99 ≤ 50 ms | ${verdict(results.bars.p99MsBusy.met)} |`,
      `| download (gzip passed through) vs a bare node:http server streaming the file | ${round(getMBps, 0)} vs ${round(plainMBps, 0)} MB/s = **${results.downloadRatio}×** | ≥ 0.9× | ${verdict(results.bars.downloadRatio.met)} |`,
      `| nginx serving the file with sendfile (what offloading downloads gets) | ${round(nginxMBps, 0)} MB/s | | |`,
      `| \`cat\` of the file (page cache, for scale) | ${round(catMBps, 0)} MB/s | | |`,
      ...formatsTable(formats),
    ].join('\n');
    process.stdout.write(`\n${table}\n\nwritten to ${path.relative(process.cwd(), out) || out}\n`);

    if (profileDir) process.stdout.write(`\n${summariseProfiles(profileDir)}\nprofiles kept in ${profileDir}\n`);
    await benchLatest({ events: opts.events, sources: 1000, metrics: 20, runs: opts.runs, databaseUrl: opts.databaseUrl });
    failed = false;
  } finally {
    await stopAll();
    const empty = fs.readdirSync(scratch).length === 0;
    if (!empty && (opts.keep || opts.profile || failed)) log(`scratch directory kept (logs${opts.profile ? ', profiles' : ''}): ${scratch}`);
    else fs.rmSync(scratch, { recursive: true, force: true });
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping the bench's processes`);
    void stopAll().finally(() => {
      if (scratchToRemove) fs.rmSync(scratchToRemove, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof BenchError ? err.message : (err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
