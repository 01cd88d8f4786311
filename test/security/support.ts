import { ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store, TestServer } from '../e2e/harness';

/** Both stores, every probe: the attacks are the same, the engines under them are not. */
export const STORES: Store[] = ['sqlite', 'mysql'];

/**
 * Another user's `{me{id}}`, sent every 200 ms while an attack runs (SPEC §15: nothing a user sends may
 * stall the server), from a process of its own (stall-client.js) so the attacker's own work here is not
 * mistaken for the server's. The stall is the worst latency seen.
 */
export class StallProbe {
  private child?: ChildProcess;

  constructor(
    private readonly server: TestServer,
    private readonly token: string,
  ) {}

  async start(): Promise<void> {
    const child = fork(path.join(__dirname, 'stall-client.js'), [this.server.url, this.token], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
    });
  }

  stop(): Promise<{ stallMs: number; samples: number; failures: number }> {
    const child = this.child!;
    return new Promise((resolve, reject) => {
      child.once('message', (m) => resolve(m as { stallMs: number; samples: number; failures: number }));
      child.once('exit', (code) => code !== 0 && reject(new Error(`stall client exited with ${code}`)));
      child.send('stop');
    });
  }
}

export interface Measured<T> {
  result: T;
  stallMs: number;
  tookMs: number;
}

/** Runs an attack while the probe runs, for at least `minMs` so the probe sees it. */
export async function withStall<T>(server: TestServer, probeToken: string, attack: () => Promise<T>, minMs = 600): Promise<Measured<T>> {
  const probe = new StallProbe(server, probeToken);
  await probe.start();
  const started = Date.now();
  let result: T;
  try {
    result = await attack();
  } finally {
    const tookMs = Date.now() - started;
    if (tookMs < minMs) await new Promise((r) => setTimeout(r, minMs - tookMs));
  }
  const tookMs = Date.now() - started;
  const { stallMs, failures } = await probe.stop();
  expect(failures).toBe(0);
  return { result, stallMs, tookMs };
}

/**
 * Issue 10's bar: the stall another user may see. Measured at load 0.7 on 2 cores the worst probe was
 * 58 ms (SQLite); the longest stretches of the server's thread after start-up are about 100 ms (SQLite's
 * commit of a 50 000-event ingest with its WAL checkpoint; CPU profiles, SECURITY_CPU_PROF).
 */
export const STALL_LIMIT_MS = 200;

/**
 * The bar on this machine now: 200 ms while the machine has a core per runnable process, scaled by the
 * load per core past that. The cores are shared (five engineers on two here): at load 9 an idle
 * server's own answer took 55 ms against 16 ms at load 1, and 100 ms of work takes 350. Still far
 * under what the probes found before the fixes (stalls of 1.5 to 95 seconds).
 */
export function stallLimitMs(): number {
  const perCore = os.loadavg()[0] / os.cpus().length;
  return Math.round(STALL_LIMIT_MS * Math.max(1, perCore));
}

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * With SECURITY_CPU_PROF=<dir>, the server writes a V8 CPU profile there when it stops: read it with
 * `node test/security/busy-stretches.js <file>` to see what held the event loop during a probe.
 */
export function profiling(): Record<string, string> {
  const dir = process.env.SECURITY_CPU_PROF;
  if (!dir) return {};
  fs.mkdirSync(dir, { recursive: true });
  return { NODE_OPTIONS: `--require ${path.join(__dirname, 'cpu-profile-hook.js')}`, SECURITY_CPU_PROF: path.resolve(dir) };
}

/** The probe table (issue 10): one line per probe and store, written to test-artifacts/ for the report. */
export function record(store: Store, probe: string, stallMs: number, answer: string): void {
  const dir = path.join(ROOT, 'test-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, `security-${store}.jsonl`), `${JSON.stringify({ probe, stallMs, answer, load: os.loadavg()[0], at: new Date().toISOString() })}\n`);
}

/** A filter with `n` alternatives: `{_or: [{source: {_eq: "s0"}}, …]}`. */
export function wideOr(n: number): Record<string, unknown> {
  return { _or: Array.from({ length: n }, (_, i) => ({ source: { _eq: `s${i}` } })) };
}
