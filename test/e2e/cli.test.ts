import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { STORE, TestStore } from './harness';

const MAIN = path.join(__dirname, '..', '..', 'dist', 'src', 'main.js');

describe(`the sluice command on ${STORE}`, () => {
  const store = new TestStore();

  beforeAll(() => store.create());
  afterAll(() => store.drop());

  test('--help lists the commands and every setting with its default', async () => {
    const { stdout } = await store.cliFails(['--help']);
    for (const c of ['user create', 'token create', 'dataset create', 'dataset grant', 'seed', 'serve', 'worker', 'migrate']) expect(stdout).toContain(c);
    expect(stdout).toMatch(/EXPORT_LEASE\s+30s/);
    expect(stdout).toMatch(/DATABASE_URL\s+sqlite:\.\/data\/sluice\.sqlite/);
  });

  test('users, tokens, datasets and grants answer JSON; mistakes exit 1 with one line', async () => {
    const ana = await store.cli(['user', 'create', '--email', 'Ana@Example.com']);
    expect(ana).toEqual({ id: expect.any(String), email: 'ana@example.com', token: expect.stringMatching(/^slc_/) });
    expect(await store.cli(['token', 'create', '--email', 'ana@example.com'])).toEqual({ token: expect.stringMatching(/^slc_/) });
    await store.cli(['user', 'create', '--email', 'bo@example.com']);
    const ds = await store.cli(['dataset', 'create', '--name', 'plant-7', '--owner', 'ana@example.com']);
    expect(ds).toEqual({ id: expect.stringMatching(/^\d+$/), name: 'plant-7' });
    expect(await store.cli(['dataset', 'grant', '--dataset', String(ds.id), '--email', 'bo@example.com', '--permission', 'READ'])).toEqual({ ok: true });

    const cases: [string[], RegExp][] = [
      [['user', 'create', '--email', 'ana@example.com'], /already exists/],
      [['user', 'create', '--email', 'not-an-email'], /is not an email address/],
      [['token', 'create', '--email', 'nobody@example.com'], /no user with email/],
      [['dataset', 'grant', '--dataset', '999', '--email', 'bo@example.com', '--permission', 'READ'], /dataset 999 not found/],
      [['dataset', 'grant', '--dataset', String(ds.id), '--email', 'bo@example.com', '--permission', 'OWN'], /READ, WRITE or MANAGE/],
      [['seed', '--dataset', String(ds.id), '--events', 'many'], /--events must be a whole number/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['user', 'create'], /--email is required/],
    ];
    for (const [args, message] of cases) {
      const res = await store.cliFails(args);
      expect({ args, code: res.code }).toEqual({ args, code: 1 });
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(message);
    }
  });

  test('a bad setting stops the CLI and the server with one line naming it', async () => {
    const cli = await store.cliFails(['migrate'], { EXPORT_LEASE: 'forever' });
    expect(cli.code).toBe(1);
    expect(cli.stderr.trim()).toBe('sluice: EXPORT_LEASE="forever" is not valid: expected a duration such as 30s, 2m (at least 1s)');
    const server = spawnSync(process.execPath, [MAIN], { env: store.env({ PORT: 'http' }), encoding: 'utf8', timeout: 20_000 });
    expect(server.status).toBe(1);
    expect(server.stderr.trim()).toBe('sluice: PORT="http" is not valid: expected a TCP port number (0-65535)');
  });

  test('seed bulk-loads synthetic events fast', async () => {
    await store.cli(['user', 'create', '--email', 'seed@example.com']);
    const ds = await store.cli(['dataset', 'create', '--name', 'seeded', '--owner', 'seed@example.com']);
    const started = Date.now();
    expect(await store.cli(['seed', '--dataset', String(ds.id), '--events', '500000'])).toEqual({ inserted: 500_000 });
    const rate = Math.round(500_000 / ((Date.now() - started) / 1000));
    process.stdout.write(`[${STORE}] seed: ${rate} events/s (500 000 events, including process start)\n`);
    expect(rate).toBeGreaterThan(0);
  });
});
