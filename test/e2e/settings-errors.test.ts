import fs from 'node:fs';
import path from 'node:path';
import { STORE, TestServer, TestStore } from './harness';

/** A new user's first mistakes: each answered in one line that names the setting (or the option). */
describe(`settings and command-line errors on ${STORE}`, () => {
  const store = new TestStore();

  beforeAll(() => store.create());
  afterAll(() => store.drop());

  const oneLine = (stderr: string) => {
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0];
  };

  test('LOG_LEVEL=verbose stops the server with the settings line, not a stack trace', async () => {
    const { code, stderr } = await store.cliFails(['serve'], { LOG_LEVEL: 'verbose' });
    expect(code).toBe(1);
    expect(oneLine(stderr)).toBe('sluice: LOG_LEVEL="verbose" is not valid: expected one of error, warn, info, debug');
  });

  test('a MySQL DATABASE_URL without a database name, and one naming a database that does not exist', async () => {
    let { code, stderr } = await store.cliFails(['migrate'], { DATABASE_URL: 'mysql://root@127.0.0.1:3306' });
    expect(code).toBe(1);
    expect(oneLine(stderr)).toMatch(/^sluice: DATABASE_URL="mysql:\/\/root@127.0.0.1:3306" is not valid: expected .*the database name is required/);
    ({ code, stderr } = await store.cliFails(['migrate'], { DATABASE_URL: 'mysql://root@127.0.0.1:3306/sluice_no_such_db' }));
    expect(code).toBe(1);
    expect(oneLine(stderr)).toMatch(/^sluice: DATABASE_URL=mysql:\/\/root@127.0.0.1:3306\/sluice_no_such_db: the database "sluice_no_such_db" does not exist on 127.0.0.1:3306; create it first: CREATE DATABASE/);
    ({ code, stderr } = await store.cliFails(['migrate'], { DATABASE_URL: 'mysql://root@127.0.0.1:1/x' }));
    expect(code).toBe(1);
    expect(oneLine(stderr)).toMatch(/^sluice: DATABASE_URL=mysql:\/\/root@127.0.0.1:1\/x: cannot reach MySQL at 127.0.0.1:1 \(ECONNREFUSED\)/);
  });

  test('a SQLite file in a directory that does not exist: the directory is made, and one line says so', async () => {
    const dir = path.join(store.dir, 'not', 'yet');
    const { code, stderr, stdout } = await store.cliFails(['migrate'], { DATABASE_URL: `sqlite:${dir}/x.sqlite` });
    expect(code).toBe(0);
    expect(JSON.parse(stdout).ok).toBe(true);
    expect(oneLine(stderr)).toBe(`sluice: DATABASE_URL: created the directory ${dir} for the SQLite file`);
    expect(fs.existsSync(path.join(dir, 'x.sqlite'))).toBe(true);
  });

  test('seed --events -5 says what --events takes', async () => {
    await store.cli(['user', 'create', '--email', 'seed@example.com']);
    const { id } = await store.cli<{ id: string }>(['dataset', 'create', '--name', 's', '--owner', 'seed@example.com']);
    for (const bad of ['-5', '0', 'many']) {
      const { code, stderr } = await store.cliFails(['seed', '--dataset', id, '--events', bad]);
      expect(code).toBe(1);
      expect(oneLine(stderr)).toBe(`sluice: --events must be a whole number of at least 1, not "${bad}"`);
    }
  });

  test('an unreachable REDIS_URL: the server starts, one warning names the setting, changes go through the database', async () => {
    const server = new TestServer(store, { REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      await server.start();
      const warnings = server.logs.split('\n').filter((l) => l.includes('REDIS_URL'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]).msg).toMatch(/^REDIS_URL=redis:\/\/127.0.0.1:1: Redis cannot be reached \(.+\); subscription changes go through the database instead$/);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
