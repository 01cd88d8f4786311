#!/usr/bin/env node
/**
 * Runs jest projects side by side, one jest process each (each still --runInBand), and fails if any fails.
 *   node test/run-projects.js e2e-sqlite e2e-mysql [-- extra jest args]
 * The two e2e projects use separate databases, ports and artifact names, so they can share the machine; this
 * halves the wall time of `npm test`. Each line of output is prefixed with its project, so a failure reads clearly.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');

const args = process.argv.slice(2);
const split = args.indexOf('--');
const projects = split === -1 ? args : args.slice(0, split);
const extra = split === -1 ? [] : args.slice(split + 1);
if (projects.length === 0) {
  process.stderr.write('usage: node test/run-projects.js <project>... [-- jest args]\n');
  process.exit(2);
}
const jest = require.resolve('jest/bin/jest');
const root = path.resolve(__dirname, '..');

function prefixLines(stream, out, label) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    if (lines.length) out.write(lines.map((l) => `[${label}] ${l}\n`).join(''));
  });
  stream.on('end', () => { if (rest) out.write(`[${label}] ${rest}\n`); });
}

const runs = projects.map((project) => new Promise((resolve) => {
  const started = Date.now();
  const child = spawn(process.execPath, [jest, '--runInBand', '--selectProjects', project, ...extra], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  prefixLines(child.stdout, process.stdout, project);
  prefixLines(child.stderr, process.stderr, project);
  child.on('close', (code, signal) => resolve({ project, code: code ?? 1, signal, seconds: Math.round((Date.now() - started) / 1000) }));
}));

void Promise.all(runs).then((results) => {
  for (const r of results) process.stdout.write(`${r.project}: ${r.code === 0 ? 'passed' : `FAILED (exit ${r.code}${r.signal ? `, ${r.signal}` : ''})`} in ${r.seconds} s\n`);
  process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
});
