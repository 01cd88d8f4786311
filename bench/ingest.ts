/**
 * Ingest and seed rates on both stores, runnable on its own (it is not part of `npm run bench`):
 *
 *   npm run build && node dist/bench/ingest.js [--posts N] [--seed N] [--store sqlite|mysql]
 *
 * --posts N   timed POSTs of 10 000 new events each, and as many re-posts of stored ones (default 5)
 * --seed N    also seed N events into an empty dataset with `seedEvents`, timed in-process (default 0: skip)
 * --store S   only this store (default both)
 *
 * Each store is fresh (a temporary SQLite file, a scratch MariaDB database at 127.0.0.1:3306 that is
 * dropped afterwards). The server runs as `npm start` would; bodies are built before the clock starts.
 * Every figure is printed with the one-minute load average beside it: on a shared machine only figures
 * taken in the same run compare.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { openDatabase } from '../src/db/data-source';
import { seedEvents } from '../src/catalog/seed';
import { BenchError, SERVER_MAIN, freePort, log, median, round, sluiceCli, startProcess, stopAll } from './harness';

const BODY_EVENTS = 10_000;
const MYSQL_ROOT = 'mysql://root@127.0.0.1:3306';

interface Figures {
  store: string;
  /** Median events/s of POSTs of 10 000 events never stored before. */
  newEventsPerSec: number;
  /** Median events/s of POSTs that replace 10 000 stored events. */
  replaceEventsPerSec: number;
  posts: number[];
  reposts: number[];
  seedEventsPerSec?: number;
  load: number;
}

const load = () => round(os.loadavg()[0]);

/** 10 000 events as a producer sends them: 20 sources × 5 metrics, 100 instants a second apart (ms). */
function body(round: number): Buffer {
  const events: unknown[] = [];
  const t0 = 1_700_000_000_000 + round * 1_000_000;
  for (let i = 0; i < BODY_EVENTS; i++) {
    const s = i % 20;
    const m = Math.floor(i / 20) % 5;
    events.push({
      timestamp: t0 + Math.floor(i / 100) * 1000,
      metric: ['temperature::number', 'humidity::number', 'status::string', 'door::bool', 'reading::json'][m],
      value: m === 2 ? 'ok' : m === 3 ? i % 2 === 0 : m === 4 ? { battery: i % 100 } : 20 + (i % 50) / 10,
      source: `sensor-${s}`,
      tags: ['bench'],
      location: { lat: 48.85 + s / 100, lng: 2.35 },
    });
  }
  return Buffer.from(JSON.stringify(events));
}

async function post(url: string, token: string, payload: Buffer): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: payload });
  const seconds = (performance.now() - started) / 1000;
  if (res.status !== 204) throw new BenchError(`ingest answered ${res.status}: ${await res.text()}`);
  return BODY_EVENTS / seconds;
}

async function benchStore(store: 'sqlite' | 'mysql', posts: number, seed: number, dir: string): Promise<Figures> {
  const dbName = `sluice_bench_ingest_${process.pid}`;
  const databaseUrl = store === 'sqlite' ? `sqlite:${path.join(dir, `${store}.sqlite`)}` : `${MYSQL_ROOT}/${dbName}`;
  if (store === 'mysql') {
    const conn = await mysql.createConnection(MYSQL_ROOT);
    await conn.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await conn.end();
  }
  try {
    const env = { ...process.env, DATABASE_URL: databaseUrl, EXPORTS_DIR: path.join(dir, `${store}-exports`), SLUICE_DEMO: '0', LOG_LEVEL: 'warn' };
    const { token } = sluiceCli(['user', 'create', '--email', 'ingest@sluice.bench'], env) as { token: string };
    const { id } = sluiceCli(['dataset', 'create', '--name', 'ingest', '--owner', 'ingest@sluice.bench'], env) as { id: string };
    const port = await freePort();
    const server = startProcess(`server (${store})`, [SERVER_MAIN], { ...env, PORT: String(port), LOG_LEVEL: 'info' }, path.join(dir, `${store}-server.log`));
    await server.waitForLine(/sluice listening/);
    const url = `http://127.0.0.1:${port}/api/v3/data/ingest/${id}`;
    const bodies = Array.from({ length: posts + 1 }, (_, i) => body(i));
    await post(url, token, bodies[0]); // warm-up: JIT, connections, the first pages of the indexes
    const fresh: number[] = [];
    const again: number[] = [];
    for (let i = 1; i <= posts; i++) {
      fresh.push(await post(url, token, bodies[i]));
      again.push(await post(url, token, bodies[i - 1]));
    }
    await server.stop();
    const figures: Figures = {
      store, newEventsPerSec: Math.round(median(fresh)), replaceEventsPerSec: Math.round(median(again)),
      posts: fresh.map(Math.round), reposts: again.map(Math.round), load: load(),
    };
    log(`${store}: POST of ${BODY_EVENTS} new events ${figures.newEventsPerSec} events/s, replacing ${figures.replaceEventsPerSec} events/s (median of ${posts}; load ${figures.load})`);
    if (seed > 0) {
      const { id: seeded } = sluiceCli(['dataset', 'create', '--name', 'seeded', '--owner', 'ingest@sluice.bench'], env) as { id: string };
      const ds = await openDatabase(databaseUrl);
      try {
        const before = load();
        const started = performance.now();
        await seedEvents(ds, databaseUrl, { datasetId: Number(seeded), events: seed, startMs: 1_600_000_000_000 });
        figures.seedEventsPerSec = Math.round(seed / ((performance.now() - started) / 1000));
        log(`${store}: seed of ${seed} events ${figures.seedEventsPerSec} events/s (load ${before} before, ${load()} after)`);
      } finally {
        await ds.destroy();
      }
    }
    return figures;
  } finally {
    if (store === 'mysql') {
      const conn = await mysql.createConnection(MYSQL_ROOT);
      await conn.query(`DROP DATABASE IF EXISTS \`${dbName}\``);
      await conn.end();
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { posts: { type: 'string' }, seed: { type: 'string' }, store: { type: 'string' } } });
  const int = (name: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 0) throw new BenchError(`--${name} must be a whole number, not ${JSON.stringify(raw)}`);
    return n;
  };
  const stores = values.store ? [values.store] : ['sqlite', 'mysql'];
  for (const s of stores) if (s !== 'sqlite' && s !== 'mysql') throw new BenchError(`--store must be sqlite or mysql, not ${s}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-ingest-'));
  try {
    const all: Figures[] = [];
    for (const s of stores) all.push(await benchStore(s as 'sqlite' | 'mysql', Math.max(1, int('posts', values.posts, 5)), int('seed', values.seed, 0), dir));
    process.stdout.write(`${JSON.stringify(all)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main()
  .catch(async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof BenchError ? err.message : (err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
