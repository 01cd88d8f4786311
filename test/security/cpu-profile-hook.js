// Preloaded into the server (NODE_OPTIONS=--require, which may not carry --cpu-prof itself): profiles the
// main thread from start to exit and writes the profile to SECURITY_CPU_PROF/<pid>.cpuprofile, beside
// <pid>.lags.json: every time a 10 ms timer fired more than 30 ms late (when, on the profile's clock, and
// by how much), so busy-stretches.js can show what ran while a request would have waited.
const fs = require('node:fs');
const path = require('node:path');
const { Session } = require('node:inspector');
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 500 });
session.post('Profiler.start');
const micros = () => Number(process.hrtime.bigint() / 1000n);
const lags = [];
let due = micros() + 10_000;
setInterval(() => {
  const now = micros();
  if (now - due > 30_000) lags.push({ at: now, lagMs: (now - due) / 1000 });
  due = now + 10_000;
}, 10).unref();
const exit = process.exit.bind(process);
process.exit = (code) => {
  session.post('Profiler.stop', (err, res) => {
    if (!err) {
      fs.writeFileSync(path.join(process.env.SECURITY_CPU_PROF, `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
      fs.writeFileSync(path.join(process.env.SECURITY_CPU_PROF, `${process.pid}.lags.json`), JSON.stringify(lags));
    }
    exit(code);
  });
};
