/**
 * Checks that bench/results/latest.json carries every figure the README's bench table quotes:
 *   node dist/bench/check-results.js [file]
 * Prints what is missing or not a number and exits 1; prints "ok" otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './harness';

const NUMBERS = ['exportRatio', 'sqliteExportRatio', 'downloadRatio', 'nginxMBps', 'peakRssMb1M', 'peakRssMb5M', 'p99MsBusy', 'parquetVsDuckdbRatio'];
const FORMAT_NUMBERS = ['rowsPerSec', 'ratioVsCsv', 'peakRssMb1M', 'peakRssMb5M', 'bytes'];
const FORMATS = ['JSONL', 'PARQUET', 'XLSX'];

export function missingKeys(results: Record<string, unknown>): string[] {
  const at = (keyPath: string) => keyPath.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), results);
  const problems: string[] = [];
  if (typeof results.commit !== 'string' || !results.commit) problems.push('commit: missing');
  const wanted = [...NUMBERS, ...FORMATS.flatMap((f) => FORMAT_NUMBERS.map((k) => `formats.${f}.${k}`))];
  for (const key of wanted) {
    const v = at(key);
    if (typeof v !== 'number' || !Number.isFinite(v)) problems.push(`${key}: ${v === undefined ? 'missing' : `not a number (${JSON.stringify(v)})`}`);
  }
  return problems;
}

if (require.main === module) {
  const file = process.argv[2] ?? path.join(REPO, 'bench', 'results', 'latest.json');
  const problems = missingKeys(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>);
  if (problems.length) {
    process.stderr.write(`${path.relative(process.cwd(), file)} lacks:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
    process.exit(1);
  }
  process.stdout.write('ok\n');
}
