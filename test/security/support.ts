import fs from 'node:fs';
import path from 'node:path';
import { Store, TestServer } from '../e2e/harness';

/** Both stores, every probe: the attacks are the same, the engines under them are not. */
export const STORES: Store[] = ['sqlite', 'mysql'];

/**
 * Another user's `{me{id}}`, sent every 200 ms while an attack runs (SPEC §15: nothing a user sends may
 * stall the server). The stall is the worst latency seen; a request still unanswered at the end counts
 * with the time it has waited so far.
 */
export class StallProbe {
  private readonly latencies: number[] = [];
  private readonly pending = new Set<number>();
  private timer?: NodeJS.Timeout;
  private failures = 0;

  constructor(
    private readonly server: TestServer,
    private readonly token: string,
  ) {}

  start(): void {
    const send = () => {
      const sentAt = Date.now();
      this.pending.add(sentAt);
      this.server
        .gql('{ me { id } }', {}, this.token)
        .then((res) => {
          if (res.status !== 200 || !res.body.data?.me?.id) this.failures++;
        }, () => this.failures++)
        .finally(() => {
          this.pending.delete(sentAt);
          this.latencies.push(Date.now() - sentAt);
        });
    };
    send();
    this.timer = setInterval(send, 200);
  }

  /** Stops sending; waits (at most 30 s) for the answers still out, then gives the worst. */
  async stop(): Promise<{ stallMs: number; samples: number; failures: number }> {
    clearInterval(this.timer);
    const deadline = Date.now() + 30_000;
    while (this.pending.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const waiting = [...this.pending].map((sentAt) => Date.now() - sentAt);
    const all = [...this.latencies, ...waiting];
    return { stallMs: Math.max(0, ...all), samples: all.length, failures: this.failures + waiting.length };
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
  probe.start();
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

/** Stall under load stays under this; the target is 200 ms, this leaves room for a machine shared by five. */
export const STALL_LIMIT_MS = 400;

const ROOT = path.resolve(__dirname, '..', '..');

/** The probe table (issue 10): one line per probe and store, written to test-artifacts/ for the report. */
export function record(store: Store, probe: string, stallMs: number, answer: string): void {
  const dir = path.join(ROOT, 'test-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, `security-${store}.jsonl`), `${JSON.stringify({ probe, stallMs, answer, at: new Date().toISOString() })}\n`);
}

/** A filter with `n` alternatives: `{_or: [{source: {_eq: "s0"}}, …]}`. */
export function wideOr(n: number): Record<string, unknown> {
  return { _or: Array.from({ length: n }, (_, i) => ({ source: { _eq: `s${i}` } })) };
}
