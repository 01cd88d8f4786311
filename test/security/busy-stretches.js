// Reads a V8 CPU profile (node --cpu-prof) and prints the longest stretches in which the thread never went
// idle, with the functions that took most of each: what held the event loop while a probe waited. With
// the <pid>.lags.json that cpu-profile-hook.js writes beside it, the stretches are instead the times the
// loop itself was late (a timer fired that much after it was due): the stall a request would have seen.
// Usage: node test/security/busy-stretches.js <file.cpuprofile> [stretches=8] [minMs=50]
const fs = require('node:fs');
const [file, topArg, minArg] = process.argv.slice(2);
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
const lagFile = file.replace(/\.cpuprofile$/, '.lags.json');
const lags = fs.existsSync(lagFile) ? JSON.parse(fs.readFileSync(lagFile, 'utf8')) : null;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(node_modules|src|dist)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
const idle = (n) => n.callFrame.functionName === '(idle)';

let t = profile.startTime;
const timed = profile.samples.map((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  t += dt;
  return { id, t, dt };
});
const stretches = [];
if (lags) {
  for (const { at, lagMs } of lags) {
    const from = at - lagMs * 1000;
    stretches.push({ from, to: at, samples: timed.filter((s) => s.t >= from && s.t <= at && !idle(byId.get(s.id))).map((s) => [s.id, s.dt]) });
  }
} else {
  let cur = null;
  for (const { id, t: at, dt } of timed) {
    if (idle(byId.get(id))) {
      if (cur) stretches.push(cur);
      cur = null;
      continue;
    }
    if (!cur) cur = { from: at, to: at, samples: [] };
    cur.to = at;
    cur.samples.push([id, dt]);
  }
  if (cur) stretches.push(cur);
}

const top = Number(topArg ?? 8);
const minMs = Number(minArg ?? 50);
const long = stretches.map((s) => ({ ...s, ms: (s.to - s.from) / 1000 })).filter((s) => s.ms >= minMs).sort((a, b) => b.ms - a.ms).slice(0, top);
for (const s of long) {
  const self = new Map();
  const total = new Map();
  for (const [id, dt] of s.samples) {
    const n = byId.get(id);
    self.set(name(n), (self.get(name(n)) ?? 0) + dt);
    const seen = new Set();
    for (let p = id; p !== undefined; p = parent.get(p)) {
      const k = name(byId.get(p));
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  }
  const fmt = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, us]) => `    ${(us / 1000).toFixed(1).padStart(7)} ms  ${k}`).join('\n');
  const busyMs = s.samples.reduce((sum, [, dt]) => sum + dt, 0) / 1000;
  console.log(`${lags ? 'late' : 'busy'} ${s.ms.toFixed(0)} ms at +${((s.from - profile.startTime) / 1e6).toFixed(2)} s${lags ? ` (${busyMs.toFixed(0)} ms of it sampled busy)` : ''}`);
  console.log(`  self:\n${fmt(self)}`);
  console.log(`  total (inclusive, own code first):\n${fmt(new Map([...total].filter(([k]) => /src\//.test(k))))}`);
}
