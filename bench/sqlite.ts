import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BenchError, Client, Proc, log, round, shell, sleep, sluiceCli } from './harness';

const EMAIL = 'bench@sluice.bench';

interface SqliteFixture {
  url: string;
  file: string;
  datasetId: number;
  token: string;
  seededNow: boolean;
}

/** The bench's SQLite store, seeded once per size and kept between runs (outside the scratch directory). */
function sqliteFixture(events: number, env: NodeJS.ProcessEnv): SqliteFixture {
  const dir = path.join(os.tmpdir(), 'sluice-bench-sqlite');
  const file = path.join(dir, `events-${events}.sqlite`);
  const marker = `${file}.json`;
  const url = `sqlite:${file}`;
  const sqliteEnv = { ...env, DATABASE_URL: url };
  let seededNow = false;
  if (!fs.existsSync(marker)) {
    fs.mkdirSync(dir, { recursive: true });
    for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
    sluiceCli(['migrate'], sqliteEnv);
    sluiceCli(['user', 'create', '--email', EMAIL], sqliteEnv);
    const datasetId = Number(sluiceCli(['dataset', 'create', '--name', `bench-${events}`, '--owner', EMAIL], sqliteEnv).id);
    log(`seeding ${events} events into the SQLite bench store ${file}…`);
    const started = performance.now();
    const res = sluiceCli(['seed', '--dataset', String(datasetId), '--events', String(events)], sqliteEnv);
    if (Number(res.inserted) !== events) throw new BenchError(`sluice seed inserted ${String(res.inserted)}, not ${events}`);
    log(`seeded in ${round((performance.now() - started) / 1000, 1)} s`);
    fs.writeFileSync(marker, JSON.stringify({ datasetId }));
    seededNow = true;
  }
  const { datasetId } = JSON.parse(fs.readFileSync(marker, 'utf8')) as { datasetId: number };
  sluiceCli(['migrate'], sqliteEnv);
  const token = String(sluiceCli(['token', 'create', '--email', EMAIL], sqliteEnv).token);
  return { url, file, datasetId, token, seededNow };
}

async function exportOnce(client: Client, datasetId: number, events: number, run: number): Promise<{ id: string; seconds: number; gzipBytes: number }> {
  const started = performance.now();
  const created = await client.graphql<{ createExport: { responseCode: string; message: string | null; item: { id: string } | null } }>(
    'mutation ($input: CreateExportInput!) { createExport(input: $input) { responseCode message item { id } } }',
    { input: { name: `bench sqlite ${run}`, dataRange: { datasets: [String(datasetId)] } } },
  );
  const id = created.createExport.item?.id;
  if (!id) throw new BenchError(`createExport on SQLite: ${created.createExport.responseCode} ${created.createExport.message ?? ''}`);
  for (;;) {
    const data = await client.graphql<{ me: { export: { status: { status: string; recordsProcessed: number; message: string | null }; result: { compressedSizeInBytes: number } | null } } }>(
      'query ($id: String!) { me { export(id: $id) { status { status recordsProcessed message } result { compressedSizeInBytes } } } }',
      { id },
    );
    const e = data.me.export;
    if (e.status.status === 'COMPLETED') {
      if (e.status.recordsProcessed !== events) throw new BenchError(`SQLite export ${id} wrote ${e.status.recordsProcessed} records, not ${events}`);
      const seconds = (performance.now() - started) / 1000;
      await client.graphql('mutation ($id: String!) { onExport(id: $id) { remove { responseCode } } }', { id });
      return { id, seconds, gzipBytes: e.result!.compressedSizeInBytes };
    }
    if (e.status.status === 'FAILED' || e.status.status === 'CANCELLED') throw new BenchError(`SQLite export ${id} ${e.status.status}: ${e.status.message ?? ''}`);
    await sleep(50);
  }
}

/** Sluice's export on the embedded store against `sqlite3 -csv | gzip` on the same rows, alternating runs. */
export async function sqliteExportSpeed(
  opts: { events: number; runs: number; gzipLevel: number },
  env: NodeJS.ProcessEnv,
  scratch: string,
  /** The SELECT Sluice runs for a default export of the dataset, parameters inlined, for the sqlite3 shell. */
  selectFor: (datasetId: number) => string,
  startServer: (databaseUrl: string, label: string) => Promise<{ proc: Proc; baseUrl: string }>,
) {
  const fixture = sqliteFixture(opts.events, env);
  const refEnv = { ...env, BENCH_DB: fixture.file, BENCH_SQL: selectFor(fixture.datasetId), BENCH_OUT: path.join(scratch, 'reference-sqlite.csv.gz') };
  const reference = async () => {
    const { seconds } = await shell(`sqlite3 -csv -readonly "$BENCH_DB" "$BENCH_SQL" | gzip -${opts.gzipLevel} > "$BENCH_OUT"`, refEnv);
    return seconds;
  };
  const server = await startServer(fixture.url, 'server-sqlite');
  try {
    const client = new Client(server.baseUrl, fixture.token);
    await reference(); // warm-up: page cache
    const referenceSeconds: number[] = [];
    const exportSeconds: number[] = [];
    let exportGzipBytes = 0;
    for (let run = 1; run <= opts.runs; run++) {
      referenceSeconds.push(await reference());
      const s = await exportOnce(client, fixture.datasetId, opts.events, run);
      exportSeconds.push(s.seconds);
      exportGzipBytes = s.gzipBytes;
      log(`SQLite run ${run}/${opts.runs}: sqlite3 ${round(referenceSeconds[run - 1])} s, sluice ${round(s.seconds)} s`);
    }
    const referenceGzipBytes = fs.statSync(refEnv.BENCH_OUT).size;
    fs.rmSync(refEnv.BENCH_OUT, { force: true });
    return { referenceSeconds, exportSeconds, exportGzipBytes, referenceGzipBytes, seededNow: fixture.seededNow };
  } finally {
    await server.proc.stop();
  }
}
