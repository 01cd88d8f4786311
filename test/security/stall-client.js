// The second client of the security probes, in a process of its own so that the attacker's work in the
// test process never shows up as the server's stall: sends `{me{id}}` every 200 ms and, on "stop",
// answers with the worst latency seen (an answer still out counts with the time it has waited).
const [url, token] = process.argv.slice(2);
const latencies = [];
const pending = new Set();
let failures = 0;

function send() {
  const sentAt = Date.now();
  pending.add(sentAt);
  fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"query":"{ me { id } }"}' })
    .then(async (res) => {
      const body = await res.json();
      if (res.status !== 200 || !body.data?.me?.id) failures++;
    }, () => failures++)
    .finally(() => {
      pending.delete(sentAt);
      latencies.push(Date.now() - sentAt);
    });
}

let timer;
// One request first, unmeasured: a fresh process's first fetch pays for its own start-up.
fetch(`${url}/healthz`).catch(() => undefined).finally(() => {
  send();
  timer = setInterval(send, 200);
  process.send({ started: true });
});
process.on('message', async (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  const deadline = Date.now() + 30_000;
  while (pending.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const waiting = [...pending].map((sentAt) => Date.now() - sentAt);
  const all = [...latencies, ...waiting];
  process.send({ stallMs: Math.max(0, ...all), samples: all.length, failures: failures + waiting.length });
  process.exit(0);
});
