import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BenchError, Client, Proc, freePort, sleep, startProcess } from './harness';

const NGINX = '/usr/sbin/nginx';

/**
 * Debian's nginx serving one file with sendfile, on a free port with a config of its own in the
 * scratch directory (no system config, no daemon): the speed a deployment that offloads downloads gets.
 */
export async function nginxFileServer(file: string, scratch: string): Promise<{ proc: Proc; baseUrl: string; path: string }> {
  if (!fs.existsSync(NGINX) || spawnSync(NGINX, ['-v']).status !== 0) throw new BenchError(`${NGINX} is missing: apt-get install -y nginx`);
  const dir = path.join(scratch, 'nginx');
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const port = await freePort();
  const t = path.join(dir, 'tmp');
  const conf = [
    // As root, nginx's workers would run as nobody, who cannot read the bench's private scratch directory.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'worker_processes 1;', 'daemon off;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log warn;`,
    'events { worker_connections 64; }',
    'http {',
    '  access_log off; sendfile on; tcp_nopush on;',
    `  client_body_temp_path ${t}/body; proxy_temp_path ${t}/proxy; fastcgi_temp_path ${t}/fastcgi; uwsgi_temp_path ${t}/uwsgi; scgi_temp_path ${t}/scgi;`,
    '  types { } default_type text/csv;',
    `  server { listen 127.0.0.1:${port}; root ${path.dirname(file)}; location / { add_header Content-Encoding gzip; } }`,
    '}',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `${conf}\n`);
  const proc = startProcess('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')], process.env, path.join(scratch, 'nginx.log'), NGINX);
  const baseUrl = `http://127.0.0.1:${port}`;
  const urlPath = `/${path.basename(file)}`;
  for (let tries = 0; ; tries++) {
    try {
      await new Client(baseUrl, '').download(urlPath);
      return { proc, baseUrl, path: urlPath };
    } catch (err) {
      if (tries > 100 || proc.child.exitCode !== null) throw new BenchError(`nginx did not serve ${urlPath}: ${(err as Error).message}\n${proc.output()}`);
      await sleep(50);
    }
  }
}
