/** Reads the .cpuprofile files `node --cpu-prof` wrote and lists the functions with the most self time. */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { runExport } from '../src/exports/export-runner';
import { DEFAULT_FIELDS } from '../src/exports/params';
import { openExportStore } from '../src/exports/storage';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function topSelfTime(file: string, top = 15): { totalMs: number; rows: { name: string; ms: number; share: number }[] } {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i]);
    const us = profile.timeDeltas[i + 1] ?? 0; // the time until the next sample is spent where this one landed
    if (!node) continue;
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  }
  const rows = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, ms: us / 1000, share: total ? us / total : 0 }));
  return { totalMs: total / 1000, rows };
}

export function summariseProfiles(dir: string, top = 15): string {
  if (!fs.existsSync(dir)) return 'no CPU profiles were written';
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  const parts: string[] = [];
  for (const file of files) {
    const { totalMs, rows } = topSelfTime(path.join(dir, file), top);
    if (totalMs < 500) continue; // idle threads
    parts.push(`${file}: ${Math.round(totalMs)} ms sampled; top self time`);
    for (const r of rows) parts.push(`  ${(r.share * 100).toFixed(1).padStart(5)}%  ${Math.round(r.ms).toString().padStart(7)} ms  ${r.name}`);
  }
  return parts.join('\n') || 'no CPU profile with more than 0.5 s of samples';
}

/**
 * `node --cpu-prof dist/bench/profile.js export <databaseUrl> <datasetId> [outFile] [estimate]`: one default CSV
 * export of a dataset run in this very thread (not a worker thread), so that one CPU profile shows the
 * whole pipeline: row decoding, cell formatting, hashing, gzip hand-off. `estimate` is the row count the
 * queue would have made (0: the runner counts); on SQLite a large one sends the rows through the slice
 * threads, whose own profiles `--cpu-prof` writes beside this one's.
 */
async function profileExport(databaseUrl: string, datasetId: number, out: string, estimate: number): Promise<void> {
  // The runner writes through the export store: a temporary file beside `out`, committed to `out` below.
  const fileStore = { kind: 'local-dir' as const, dir: path.dirname(path.resolve(out)) };
  const fileKey = path.basename(out);
  fs.rmSync(out, { force: true });
  fs.rmSync(`${out}.tmp`, { force: true });
  const started = process.hrtime.bigint();
  let records = 0;
  await runExport(
    {
      databaseUrl, exportId: 'profile', fileStore, fileKey, knownEstimate: estimate, slicedExports: loadConfig().slicedExports,
      params: { datasetIds: [datasetId], metrics: null, timestampPrecision: 'MILLISECONDS', fields: [...DEFAULT_FIELDS], filter: null, from: null, to: null, limit: null, header: true, timestampFormat: 'EPOCH', timeZone: 'UTC', excelSafe: false, maxRecords: 50_000_000 },
    },
    (m) => {
      if (m.type === 'done') records = m.records;
    },
  );
  await openExportStore(fileStore).commit(fileKey);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${records} records in ${seconds.toFixed(2)} s (${Math.round(records / seconds)} rows/s) -> ${out}\n`);
}

if (require.main === module && process.argv[2] === 'export') {
  void profileExport(process.argv[3], Number(process.argv[4]), process.argv[5] ?? path.resolve('profile-export.csv.gz'), Number(process.argv[6] ?? 0));
} else if (require.main === module) {
  process.stdout.write(`${summariseProfiles(process.argv[2] ?? '.', Number(process.argv[3] ?? 15))}\n`);
}
