/**
 * Plumbing for the benchmark: child processes that are always cleaned up, a tiny GraphQL client,
 * /proc sampling, timing of shell commands, and statistics. Nothing here knows what is being measured.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');
export const CLI = path.join(REPO, 'bin', 'sluice.js');
export const SERVER_MAIN = path.join(REPO, 'dist', 'src', 'main.js');

export class BenchError extends Error {}

// ---------------------------------------------------------------- child processes

const children = new Set<ChildProcess>();
/** Shell pipelines run in their own process group, so that mysql and gzip go with the shell. */
const groups = new WeakSet<ChildProcess>();

function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (groups.has(child) && child.pid) process.kill(-child.pid, sig);
    else child.kill(sig);
  } catch {
    // already gone
  }
}

/** Kills whatever is still running when the bench exits, however it exits. */
process.on('exit', () => {
  for (const child of children) signal(child, 'SIGKILL');
});

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** Everything the process printed so far (stdout and stderr), for error messages. */
  output(): string;
  /** Resolves with the first output line matching `pattern`; rejects if the process exits first. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL if it has not gone after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `command` (node by default) with its output kept in `logFile`; it is killed when the bench exits. */
export function startProcess(name: string, args: string[], env: NodeJS.ProcessEnv, logFile: string, command = process.execPath): Proc {
  const child = spawn(command, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const log = fs.createWriteStream(logFile);
  let text = '';
  let pending = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (buf: Buffer) => {
    log.write(buf);
    const s = buf.toString('utf8');
    if (text.length < 1_000_000) text += s;
    pending += s;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { children.delete(child); log.end(); resolve(); }));
  const tail = () => text.trim().split('\n').slice(-15).join('\n');
  return {
    child,
    pid: child.pid!,
    output: () => text,
    waitForLine: (pattern, timeoutMs = 60_000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new BenchError(`${name}: no line matching ${pattern} within ${timeoutMs} ms\n${tail()}`)), timeoutMs);
        waiters.push({ pattern, resolve: (line) => { clearTimeout(timer); resolve(line); } });
        void exited.then(() => { clearTimeout(timer); reject(new BenchError(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}) before printing ${pattern}\n${tail()}`)); });
      }),
    stop: async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Kills every child still running (used on errors and on Ctrl-C). */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => signal(child, 'SIGKILL'), 5000);
          child.once('exit', () => { clearTimeout(timer); resolve(); });
          signal(child, 'SIGTERM');
        }),
    ),
  );
}

/** Runs the sluice CLI and returns its JSON answer. */
export function sluiceCli(args: string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const res = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (res.status !== 0) throw new BenchError(`sluice ${args.join(' ')} failed (exit ${res.status}): ${(res.stderr || res.stdout).trim()}`);
  const line = res.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new BenchError(`sluice ${args.join(' ')} printed no JSON: ${res.stdout.trim()}`);
  }
}

/** Runs a bash script (in its own process group) and returns what it printed on stdout and the wall time it took. */
export function shell(script: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('bash', ['-c', `set -euo pipefail\n${script}`], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(child);
    groups.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    child.on('error', reject);
    child.on('exit', (code, sig) => {
      children.delete(child);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ stdout: out, seconds });
      else reject(new BenchError(`command failed (${sig ? `signal ${sig}` : `exit ${code}`}): ${script.split('\n')[0]}\n${err.trim()}`));
    });
  });
}

// ---------------------------------------------------------------- HTTP and GraphQL

export class Client {
  constructor(readonly baseUrl: string, readonly token: string) {}

  async graphql<T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const res = await fetch(`${this.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
    if (body.errors?.length || !body.data) throw new BenchError(`GraphQL error (HTTP ${res.status}): ${body.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
    return body.data;
  }

  /** GET of a URL path with the raw (still gzip) body read and thrown away; returns bytes and seconds. */
  download(urlPath: string): Promise<{ bytes: number; seconds: number; encoding: string | undefined }> {
    return new Promise((resolve, reject) => {
      const started = process.hrtime.bigint();
      const req = http.get(
        `${this.baseUrl}${urlPath}`,
        { headers: { authorization: `Bearer ${this.token}`, 'accept-encoding': 'gzip' }, agent: false },
        (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => { bytes += chunk.length; });
          res.on('error', reject);
          res.on('end', () => {
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            if (res.statusCode !== 200) reject(new BenchError(`GET ${urlPath}: HTTP ${res.statusCode}`));
            else resolve({ bytes, seconds, encoding: res.headers['content-encoding'] });
          });
        },
      );
      req.on('error', reject);
    });
  }
}

// ---------------------------------------------------------------- /proc sampling

export interface MemoryStatus {
  rssKb: number;
  hwmKb: number;
}

export function readMemory(pid: number): MemoryStatus | null {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

/**
 * Samples a process' memory every `everyMs` until stopped; reports the largest VmRSS seen, the last VmHWM,
 * and the largest VmRSS in each quarter of the sampled time (flat quarters: memory does not grow with the work).
 */
export function sampleMemory(pid: number, everyMs = 50): { stop(): { maxRssKb: number; hwmKb: number; samples: number; quarterMaxRssKb: number[] } } {
  let hwmKb = 0;
  const rss: number[] = [];
  const take = () => {
    const m = readMemory(pid);
    if (!m) return;
    rss.push(m.rssKb);
    hwmKb = Math.max(hwmKb, m.hwmKb);
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop: () => {
      take();
      clearInterval(timer);
      const quarter = (q: number) => Math.max(0, ...rss.slice(Math.floor((q * rss.length) / 4), Math.floor(((q + 1) * rss.length) / 4)));
      return { maxRssKb: Math.max(0, ...rss), hwmKb, samples: rss.length, quarterMaxRssKb: [0, 1, 2, 3].map(quarter) };
    },
  };
}

// ---------------------------------------------------------------- statistics

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** A TCP port free right now on 127.0.0.1, for programs (nginx) that cannot listen on port 0 and say which they got. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
