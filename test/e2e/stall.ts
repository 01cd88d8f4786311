import { spawn } from 'node:child_process';
import { TestServer } from './harness';

/** The probing loop, in a process of its own: the test process is busy being the attacker, and must not slow the probe. */
const PROBE = `
const http = require('node:http');
const [url, token] = process.argv.slice(1);
let worst = 0, queries = 0, failed = null, running = true;
process.on('message', () => { running = false; });
const me = () => new Promise((resolve, reject) => {
  const req = http.request(url + '/graphql', { method: 'POST', agent: false, headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token } }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => {
      const answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.statusCode === 200 && answer.data && answer.data.me ? resolve() : reject(new Error('answered ' + res.statusCode + ': ' + JSON.stringify(answer)));
    });
    res.on('error', reject);
  });
  req.on('error', reject);
  req.end(JSON.stringify({ query: '{ me { id } }' }));
});
(async () => {
  while (running) {
    const t = Date.now();
    try { await me(); } catch (err) { failed = err.message; }
    const took = Date.now() - t;
    worst = Math.max(worst, took);
    queries++;
    await new Promise((r) => setTimeout(r, Math.max(0, 200 - took)));
  }
  process.send({ worstMs: worst, queries, failed }, () => process.exit(0));
})();
`;

/**
 * The probes' measure of a stall: `{ me { id } }` sent every 200 ms by another user while an attack
 * runs; the worst answer time is the stall.
 */
export function stallProbe(server: TestServer, token: string): { stop: () => Promise<{ worstMs: number; queries: number }> } {
  const child = spawn(process.execPath, ['-e', PROBE, server.url, token], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const result = new Promise<{ worstMs: number; queries: number; failed: string | null }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as never));
    child.once('exit', (code) => reject(new Error(`the stall probe exited with ${code}`)));
  });
  result.catch(() => undefined);
  return {
    stop: async () => {
      child.send('stop');
      const { worstMs, queries, failed } = await result;
      if (failed) throw new Error(`a probe query failed: ${failed}`);
      return { worstMs, queries };
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
