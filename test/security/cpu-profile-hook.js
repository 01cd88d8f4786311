// Preloaded into the server (NODE_OPTIONS=--require, which may not carry --cpu-prof itself): profiles the
// main thread from start to exit and writes the profile to SECURITY_CPU_PROF/<pid>.cpuprofile.
const fs = require('node:fs');
const path = require('node:path');
const { Session } = require('node:inspector');
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 500 });
session.post('Profiler.start');
const exit = process.exit.bind(process);
process.exit = (code) => {
  session.post('Profiler.stop', (err, res) => {
    if (!err) fs.writeFileSync(path.join(process.env.SECURITY_CPU_PROF, `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    exit(code);
  });
};
