/**
 * Latest values against the full export of the same range (SPEC §16): `latest: true` must not read every
 * event, so on a store of millions it finishes in a fraction of the full export's time. Both are timed
 * end to end (createExport to COMPLETED) on the same server, alternating; the ratio of the medians goes
 * into bench/results/latest.json as `latestVsFullRatio` (bar: <= 0.2), beside the EXPLAIN of the latest
 * and the newest-first (order: DESC) queries. Everything else in that file is kept.
 *
 *   node dist/bench/latest.js [--events N] [--sources S] [--metrics M] [--runs R] [--database-url mysql://…]
 *
 * npm run bench calls it after its own phases, with its --events, --runs and --database-url.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { mysqlConnectionOptions } from '../src/db/data-source';
import { csvWriter } from '../src/exports/formats/csv';
import { buildExportQuery } from '../src/exports/export-query';
import { DEFAULT_FIELDS, ExportParams } from '../src/exports/params';
import { BenchError, Client, REPO, SERVER_MAIN, log, median, round, sleep, sluiceCli, startProcess, stopAll } from './harness';

export interface LatestBenchOptions {
  events: number;
  sources: number;
  metrics: number;
  runs: number;
  databaseUrl: string;
}

const EMAIL = 'bench-latest@sluice.bench';
const RATIO_BAR = 0.2;

async function prepare(opts: LatestBenchOptions, env: NodeJS.ProcessEnv): Promise<{ datasetId: number; token: string; series: number }> {
  const conn = mysqlConnectionOptions(opts.databaseUrl);
  const server = await mysql.createConnection({ host: conn.host, port: conn.port, user: conn.user, password: conn.password });
  await server.query(`CREATE DATABASE IF NOT EXISTS \`${conn.database.replace(/`/g, '``')}\``);
  await server.end();
  sluiceCli(['migrate'], env);
  const db = await mysql.createConnection(conn);
  try {
    const [users] = await db.query<mysql.RowDataPacket[]>('SELECT id FROM `user` WHERE email = ?', [EMAIL]);
    const token = String((users.length ? sluiceCli(['token', 'create', '--email', EMAIL], env) : sluiceCli(['user', 'create', '--email', EMAIL], env)).token);
    const name = `bench-latest-${opts.events}-${opts.sources}x${opts.metrics}`;
    const [datasets] = await db.query<mysql.RowDataPacket[]>('SELECT id FROM dataset WHERE name = ? ORDER BY id LIMIT 1', [name]);
    const datasetId = datasets.length ? Number(datasets[0].id) : Number(sluiceCli(['dataset', 'create', '--name', name, '--owner', EMAIL], env).id);
    await db.query('DELETE FROM data_export WHERE user_id IN (SELECT id FROM `user` WHERE email = ?)', [EMAIL]);
    const [counted] = await db.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM event WHERE dataset_id = ?', [datasetId]);
    if (Number(counted[0].n) !== opts.events) {
      if (Number(counted[0].n) > 0) await db.query('DELETE FROM event WHERE dataset_id = ?', [datasetId]);
      log(`latest: seeding ${opts.events} events over ${opts.sources} sources and ${opts.metrics} metrics into ${name}…`);
      const started = performance.now();
      sluiceCli(['seed', '--dataset', String(datasetId), '--events', String(opts.events), '--sources', String(opts.sources), '--metrics', String(opts.metrics)], env);
      log(`latest: seeded in ${round((performance.now() - started) / 1000, 1)} s`);
    }
    const [series] = await db.query<mysql.RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM (SELECT 1 FROM event WHERE dataset_id = ? GROUP BY dataset_id, source, metric) AS s',
      [datasetId],
    );
    return { datasetId, token, series: Number(series[0].n) };
  } finally {
    await db.end();
  }
}

async function timedExport(client: Client, input: Record<string, unknown>): Promise<{ seconds: number; records: number; estimate: number }> {
  const started = performance.now();
  const created = await client.graphql<{ createExport: { responseCode: string; message: string | null; item: { id: string } | null } }>(
    'mutation ($input: CreateExportInput!) { createExport(input: $input) { responseCode message item { id } } }',
    { input },
  );
  const id = created.createExport.item?.id;
  if (!id) throw new BenchError(`createExport: ${created.createExport.responseCode} ${created.createExport.message ?? ''}`);
  for (;;) {
    const data = await client.graphql<{ me: { export: { status: { status: string; recordsProcessed: number; recordsEstimate: number; message: string | null } } } }>(
      'query ($id: String!) { me { export(id: $id) { status { status recordsProcessed recordsEstimate message } } } }',
      { id },
    );
    const { status } = data.me.export;
    if (status.status === 'COMPLETED') {
      const seconds = (performance.now() - started) / 1000;
      await client.graphql('mutation ($id: String!) { onExport(id: $id) { remove { responseCode } } }', { id });
      return { seconds, records: status.recordsProcessed, estimate: status.recordsEstimate };
    }
    if (status.status === 'FAILED' || status.status === 'CANCELLED') throw new BenchError(`export ${id} ${status.status}: ${status.message ?? ''}`);
    await sleep(50);
  }
}

/** The plans MariaDB picks for the two new queries, as EXPLAIN rows. */
async function explain(opts: LatestBenchOptions, datasetId: number): Promise<Record<string, unknown[]>> {
  const params: ExportParams = {
    datasetIds: [datasetId], metrics: null, timestampPrecision: 'MILLISECONDS', fields: [...DEFAULT_FIELDS], filter: null, from: null, to: null,
    limit: null, header: true, timestampFormat: 'EPOCH', timeZone: 'UTC', excelSafe: false, maxRecords: 50_000_000, receivedUntil: Date.now() * 1000,
  };
  const columns = csvWriter(params).columns;
  const db = await mysql.createConnection(mysqlConnectionOptions(opts.databaseUrl));
  try {
    const plans: Record<string, unknown[]> = {};
    for (const [name, p] of [['latest', { ...params, latest: true }], ['desc', { ...params, order: 'DESC' as const }]] as const) {
      const q = buildExportQuery(p, columns, 'mysql');
      const [rows] = await db.query<mysql.RowDataPacket[]>(`EXPLAIN ${q.select}`, q.params);
      plans[name] = rows.map((r) => ({ id: r.id, select_type: r.select_type, table: r.table, type: r.type, key: r.key, ref: r.ref, rows: r.rows, Extra: r.Extra }));
    }
    return plans;
  } finally {
    await db.end();
  }
}

export async function benchLatest(opts: LatestBenchOptions): Promise<{ latestVsFullRatio: number }> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-latest-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env, DATABASE_URL: opts.databaseUrl, EXPORTS_DIR: path.join(scratch, 'exports'), PORT: '0', SLUICE_DEMO: '0', LOG_LEVEL: 'info',
  };
  try {
    const fixture = await prepare(opts, env);
    const proc = startProcess('server-latest', [SERVER_MAIN], { ...env, EXPORT_WORKERS: '1' }, path.join(scratch, 'server.log'));
    const line = await proc.waitForLine(/sluice listening/);
    const client = new Client(`http://127.0.0.1:${/"port":(\d+)/.exec(line)?.[1]}`, fixture.token);
    const dataRange = { datasets: [String(fixture.datasetId)] };
    const full: number[] = [];
    const latest: number[] = [];
    let latestEstimate = 0;
    for (let run = 1; run <= opts.runs; run++) {
      const f = await timedExport(client, { name: `bench full ${run}`, dataRange });
      if (f.records !== opts.events) throw new BenchError(`the full export wrote ${f.records} records, not ${opts.events}`);
      full.push(f.seconds);
      const l = await timedExport(client, { name: `bench latest ${run}`, dataRange, latest: true });
      if (l.records !== fixture.series) throw new BenchError(`the latest export wrote ${l.records} records, not one per series (${fixture.series})`);
      latest.push(l.seconds);
      latestEstimate = l.estimate;
      log(`latest run ${run}/${opts.runs}: full ${round(f.seconds)} s, latest ${round(l.seconds)} s (${fixture.series} series)`);
    }
    await proc.stop();
    const ratio = round(median(latest) / median(full), 3);
    const plans = await explain(opts, fixture.datasetId);

    const out = path.join(REPO, 'bench', 'results', 'latest.json');
    const results = fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
    results.latestVsFullRatio = ratio;
    results.latest = {
      date: new Date().toISOString(), events: opts.events, sources: opts.sources, metrics: opts.metrics, series: fixture.series, runs: opts.runs,
      fullSeconds: full.map((s) => round(s, 3)), latestSeconds: latest.map((s) => round(s, 3)), latestRecordsEstimate: latestEstimate,
      bar: { latestVsFullRatio: `<= ${RATIO_BAR}`, met: ratio <= RATIO_BAR },
      explain: plans,
    };
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(
      `\n| latest (one row per series) vs the full export, ${opts.events} events, ${fixture.series} series | ${round(median(latest))} vs ${round(median(full))} s = **${ratio}×** | ≤ ${RATIO_BAR}× | ${ratio <= RATIO_BAR ? 'met' : '**not met**'} |\n`,
    );
    return { latestVsFullRatio: ratio };
  } finally {
    await stopAll();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { events: { type: 'string' }, sources: { type: 'string' }, metrics: { type: 'string' }, runs: { type: 'string' }, 'database-url': { type: 'string' } },
  });
  const int = (name: string, raw: string | undefined, fallback: number) => {
    const n = raw === undefined ? fallback : Number(raw.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) throw new BenchError(`--${name} must be a positive whole number, not ${JSON.stringify(raw)}`);
    return n;
  };
  benchLatest({
    events: int('events', values.events, 5_000_000),
    sources: int('sources', values.sources, 1000),
    metrics: int('metrics', values.metrics, 20),
    runs: int('runs', values.runs, 3),
    databaseUrl: values['database-url'] ?? process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/sluice_bench',
  }).catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof BenchError ? err.message : (err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
