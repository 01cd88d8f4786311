/**
 * The formats' part of `npm run bench` (issue 11, item 7): each format's export speed against CSV's in the
 * same run, each worker's peak RSS at 1M events and at the full dataset, the file sizes, and Parquet against
 * what a user does without it: export CSV, then `COPY … TO … (FORMAT parquet)` with DuckDB.
 *
 * bench/run.ts calls `formatsBench` after its own phases. It also runs alone, on a dataset already seeded
 * by bench/run.ts (or seeded here), merging its figures into bench/results/latest.json:
 *
 *   node dist/bench/formats.js [--events N] [--database-url mysql://…]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { mysqlConnectionOptions } from '../src/db/data-source';
import { BenchError, CLI, Client, REPO, SERVER_MAIN, log, readMemory, round, sampleMemory, sleep, sluiceCli, startProcess, stopAll } from './harness';

const FORMATS = ['CSV', 'JSONL', 'PARQUET', 'XLSX'] as const;
type Format = (typeof FORMATS)[number];
const SMALL = 1_000_000;

export interface FormatFigures {
  rowsPerSec: number;
  ratioVsCsv: number;
  peakRssMb1M: number;
  peakRssMb5M: number;
  /** The data file at the full dataset (what a user holds). */
  bytes: number;
  /** The stored file at the full dataset. */
  storedBytes: number;
  seconds: number;
}

export interface FormatsResults {
  formats: Record<Exclude<Format, 'CSV'>, FormatFigures>;
  csv: FormatFigures;
  parquetVsDuckdbRatio: number;
  detail: { duckdbConvertSeconds: number; csvExportSeconds: number; parquetExportSeconds: number; duckdbParquetBytes: number; events: number };
}

interface ExportDone {
  id: string;
  seconds: number;
  records: number;
  sizeInBytes: number;
  compressedSizeInBytes: number;
}

async function runExport(client: Client, datasetId: number, format: Format, limit?: number): Promise<ExportDone> {
  const started = performance.now();
  const created = await client.graphql<{ createExport: { responseCode: string; message: string | null; item: { id: string } | null } }>(
    'mutation ($input: CreateExportInput!) { createExport(input: $input) { responseCode message item { id } } }',
    { input: { name: `bench ${format}`, format, dataRange: { datasets: [String(datasetId)] }, ...(limit ? { limit } : {}) } },
  );
  const r = created.createExport;
  if (r.responseCode !== 'SUCCESS' || !r.item) throw new BenchError(`createExport ${format}: ${r.responseCode} ${r.message ?? ''}`);
  for (;;) {
    const data = await client.graphql<{ me: { export: { status: { status: string; recordsProcessed: number; message: string | null }; result: { sizeInBytes: number; compressedSizeInBytes: number } | null } } }>(
      'query ($id: String!) { me { export(id: $id) { status { status recordsProcessed message } result { sizeInBytes compressedSizeInBytes } } } }',
      { id: r.item.id },
    );
    const e = data.me.export;
    if (e.status.status === 'COMPLETED') {
      return { id: r.item.id, seconds: (performance.now() - started) / 1000, records: e.status.recordsProcessed, sizeInBytes: e.result!.sizeInBytes, compressedSizeInBytes: e.result!.compressedSizeInBytes };
    }
    if (e.status.status === 'FAILED' || e.status.status === 'CANCELLED') throw new BenchError(`${format} export ${e.status.status}: ${e.status.message}`);
    await sleep(100);
  }
}

async function remove(client: Client, id: string): Promise<void> {
  await client.graphql('mutation ($id: String!) { onExport(id: $id) { remove { responseCode } } }', { id });
}

/** One export in a fresh `sluice worker` process, its VmHWM sampled. */
async function measured(client: Client, datasetId: number, format: Format, limit: number | undefined, env: NodeJS.ProcessEnv, scratch: string, keep = false) {
  const label = `formats-${format}-${limit ?? 'full'}`;
  const worker = startProcess(label, [CLI, 'worker'], { ...env, EXPORT_CONCURRENCY: '1' }, path.join(scratch, `${label}.log`));
  await worker.waitForLine(/export worker started/);
  try {
    await sleep(300);
    const sampler = sampleMemory(worker.pid, 50);
    const done = await runExport(client, datasetId, format, limit);
    const peakRssMb = round(sampler.stop().hwmKb / 1024, 1);
    log(`${format} ${done.records} events: ${round(done.seconds)} s (${Math.round(done.records / done.seconds)} rows/s), data file ${done.sizeInBytes} B, stored ${done.compressedSizeInBytes} B, worker VmHWM ${peakRssMb} MB`);
    if (!keep) await remove(client, done.id);
    return { ...done, peakRssMb };
  } finally {
    await worker.stop();
  }
}

/** CSV export, then DuckDB converting it to Parquet: the time a user spends today to get a Parquet file. */
async function duckdbConvert(csvGz: string, scratch: string): Promise<{ seconds: number; bytes: number }> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const out = path.join(scratch, 'duckdb.parquet');
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  try {
    const started = performance.now();
    await db.run(`COPY (SELECT * FROM read_csv('${csvGz}')) TO '${out}' (FORMAT parquet)`);
    return { seconds: (performance.now() - started) / 1000, bytes: fs.statSync(out).size };
  } finally {
    db.closeSync();
    fs.rmSync(out, { force: true });
  }
}

/**
 * Needs a server without an in-process worker (EXPORT_WORKERS=0) at `baseUrl`: each export runs in its own
 * worker process, so its peak RSS is its own.
 */
export async function formatsBench(baseUrl: string, token: string, datasetId: number, events: number, env: NodeJS.ProcessEnv, scratch: string, exportsDir: string): Promise<FormatsResults> {
  const client = new Client(baseUrl, token);
  const small = Math.min(SMALL, events);
  const figures = {} as Record<Format, FormatFigures>;
  let csvFile = '';
  let csvId = '';
  for (const format of FORMATS) {
    const full = await measured(client, datasetId, format, undefined, env, scratch, format === 'CSV');
    if (format === 'CSV') {
      csvId = full.id;
      csvFile = path.join(exportsDir, fs.readdirSync(exportsDir).find((f) => f.startsWith(`${full.id}.`) && f.endsWith('.csv.gz'))!);
    }
    const one = await measured(client, datasetId, format, small, env, scratch);
    figures[format] = {
      rowsPerSec: Math.round(full.records / full.seconds), ratioVsCsv: 0, peakRssMb1M: one.peakRssMb, peakRssMb5M: full.peakRssMb,
      bytes: full.sizeInBytes, storedBytes: full.compressedSizeInBytes, seconds: round(full.seconds, 3),
    };
  }
  for (const format of FORMATS) figures[format].ratioVsCsv = round(figures[format].rowsPerSec / figures.CSV.rowsPerSec, 3);
  const duck = await duckdbConvert(csvFile, scratch);
  await remove(client, csvId);
  const userSeconds = figures.CSV.seconds + duck.seconds;
  const parquetVsDuckdbRatio = round(userSeconds / figures.PARQUET.seconds, 3);
  log(`PARQUET ${round(figures.PARQUET.seconds)} s against CSV ${round(figures.CSV.seconds)} s + DuckDB COPY ${round(duck.seconds)} s: ${parquetVsDuckdbRatio}x`);
  const { CSV: csv, ...rest } = figures;
  return {
    formats: rest,
    csv,
    parquetVsDuckdbRatio,
    detail: { duckdbConvertSeconds: round(duck.seconds, 3), csvExportSeconds: figures.CSV.seconds, parquetExportSeconds: figures.PARQUET.seconds, duckdbParquetBytes: duck.bytes, events },
  };
}

/** Markdown rows for the bench's table. */
export function formatsTable(r: FormatsResults): string[] {
  const rows = Object.entries(r.formats).map(
    ([name, f]) => `| ${name}: rows/s (vs CSV), peak RSS 1M / full, data file | ${f.rowsPerSec} (${f.ratioVsCsv}×), ${f.peakRssMb1M} / ${f.peakRssMb5M} MB, ${f.bytes} B | ${name === 'JSONL' ? '≥ 0.8×' : name === 'XLSX' ? '≥ 0.25×' : ''} RSS ≤ 250 MB, within 10% | ${(name === 'JSONL' ? f.ratioVsCsv >= 0.8 : name === 'XLSX' ? f.ratioVsCsv >= 0.25 : true) && f.peakRssMb5M <= 250 && Math.abs(f.peakRssMb5M / f.peakRssMb1M - 1) <= 0.1 ? 'met' : '**not met**'} |`,
  );
  rows.push(`| PARQUET vs CSV export + DuckDB \`COPY … (FORMAT parquet)\` | **${r.parquetVsDuckdbRatio}×** | ≥ 1.0× | ${r.parquetVsDuckdbRatio >= 1 ? 'met' : '**not met**'} |`);
  return rows;
}

// ---------------------------------------------------------------- standalone

async function standalone(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { events: { type: 'string' }, 'database-url': { type: 'string' } } });
  const events = Number(values.events ?? 5_000_000);
  const databaseUrl = values['database-url'] ?? process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/sluice_bench';
  if (!fs.existsSync(SERVER_MAIN)) throw new BenchError('dist/ is missing: run `npm run build` first');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-formats-'));
  const exportsDir = path.join(scratch, 'exports');
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, EXPORTS_DIR: exportsDir, PORT: '0', SLUICE_DEMO: '0', LOG_LEVEL: 'info' };
  try {
    const conn = mysqlConnectionOptions(databaseUrl);
    const server = await mysql.createConnection({ host: conn.host, port: conn.port, user: conn.user, password: conn.password });
    await server.query(`CREATE DATABASE IF NOT EXISTS \`${conn.database.replace(/`/g, '``')}\``);
    await server.end();
    sluiceCli(['migrate'], env);
    const db = await mysql.createConnection(conn);
    const email = 'bench@sluice.bench';
    const [users] = await db.query<mysql.RowDataPacket[]>('SELECT id FROM `user` WHERE email = ?', [email]);
    const token = String((users.length ? sluiceCli(['token', 'create', '--email', email], env) : sluiceCli(['user', 'create', '--email', email], env)).token);
    const name = `bench-${events}`;
    const [datasets] = await db.query<mysql.RowDataPacket[]>('SELECT id FROM dataset WHERE name = ? ORDER BY id LIMIT 1', [name]);
    const datasetId = datasets.length ? Number(datasets[0].id) : Number(sluiceCli(['dataset', 'create', '--name', name, '--owner', email], env).id);
    const [counted] = await db.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM event WHERE dataset_id = ?', [datasetId]);
    if (Number(counted[0].n) !== events) {
      await db.query('DELETE FROM event WHERE dataset_id = ?', [datasetId]);
      log(`seeding ${events} events into ${name}…`);
      sluiceCli(['seed', '--dataset', String(datasetId), '--events', String(events)], env);
    }
    await db.end();
    const proc = startProcess('server-formats', [SERVER_MAIN], { ...env, EXPORT_WORKERS: '0' }, path.join(scratch, 'server.log'));
    const line = await proc.waitForLine(/sluice listening/);
    const baseUrl = `http://127.0.0.1:${/"port":(\d+)/.exec(line)![1]}`;
    const results = await formatsBench(baseUrl, token, datasetId, events, env, scratch, exportsDir);
    const out = path.join(REPO, 'bench', 'results', 'latest.json');
    const latest = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : {};
    Object.assign(latest, { formats: results.formats, parquetVsDuckdbRatio: results.parquetVsDuckdbRatio, formatsDetail: { ...results.detail, csv: results.csv, measuredAlone: new Date().toISOString() } });
    fs.writeFileSync(out, `${JSON.stringify(latest, null, 2)}\n`);
    process.stdout.write(`\n${formatsTable(results).join('\n')}\n\nmerged into ${out}\n`);
  } finally {
    await stopAll();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) {
  standalone().catch((err: unknown) => {
    process.stderr.write(`formats bench failed: ${err instanceof BenchError ? err.message : (err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
