/** Reads the .cpuprofile files `node --cpu-prof` wrote and lists the functions with the most self time. */
import fs from 'node:fs';
import path from 'node:path';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function topSelfTime(file: string, top = 15): { totalMs: number; rows: { name: string; ms: number; share: number }[] } {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i]);
    const us = profile.timeDeltas[i + 1] ?? 0; // the time until the next sample is spent where this one landed
    if (!node) continue;
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  }
  const rows = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, ms: us / 1000, share: total ? us / total : 0 }));
  return { totalMs: total / 1000, rows };
}

export function summariseProfiles(dir: string, top = 15): string {
  if (!fs.existsSync(dir)) return 'no CPU profiles were written';
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  const parts: string[] = [];
  for (const file of files) {
    const { totalMs, rows } = topSelfTime(path.join(dir, file), top);
    if (totalMs < 500) continue; // idle threads
    parts.push(`${file}: ${Math.round(totalMs)} ms sampled; top self time`);
    for (const r of rows) parts.push(`  ${(r.share * 100).toFixed(1).padStart(5)}%  ${Math.round(r.ms).toString().padStart(7)} ms  ${r.name}`);
  }
  return parts.join('\n') || 'no CPU profile with more than 0.5 s of samples';
}

if (require.main === module) {
  process.stdout.write(`${summariseProfiles(process.argv[2] ?? '.', Number(process.argv[3] ?? 15))}\n`);
}
