import { TestServer } from './harness';

/**
 * The probes' measure of a stall: `{ me { id } }` sent every 200 ms by another user while an attack
 * runs; the worst answer time is the stall.
 */
export function stallProbe(server: TestServer, token: string): { stop: () => Promise<{ worstMs: number; queries: number }> } {
  let running = true;
  let worst = 0;
  let queries = 0;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      await server.data('{ me { id } }', {}, token);
      const took = Date.now() - t;
      worst = Math.max(worst, took);
      queries++;
      await new Promise((r) => setTimeout(r, Math.max(0, 200 - took)));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { worstMs: worst, queries };
    },
  };
}

/** A process's JSON log lines (pino) whose message matches. */
export function logLines(logs: string, msg: RegExp): Record<string, any>[] {
  return logs
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>)
    .filter((l) => msg.test(String(l.msg)));
}
