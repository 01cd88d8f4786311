import { Browser, chromium, Locator, Page } from 'playwright-core';
import { STORE, TestServer, TestStore, waitFor } from './harness';

/**
 * Schedules on the "My exports" page (SPEC §10, §14) in a real Chromium against the real server: the
 * list with next and last run, create (a refused cron explained in words), run now, the run's link to
 * its schedule, pause, resume, delete after a confirmation (runs kept), and re-run of a finished export.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync'];
const EMAIL = 'sched@example.com';

// Functions passed to page.evaluate run in the browser; the test compiles without the DOM library.
declare const location: { hash: string };

describe(`schedules on the page in Chromium on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let user: { token: string; dataset: string };
  const pageErrors: string[] = [];

  const schedule = (name: string): Locator => page.getByRole('listitem', { name: `schedule ${name}`, exact: true });
  const runs = () => page.locator('#exports-list > li');
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) => waitFor(async () => (await check()) || undefined, what, timeoutMs, 50);

  beforeAll(async () => {
    await store.create();
    user = await store.seededUser(EMAIL, 500);
    server = new TestServer(store);
    await server.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: 'en-US', timezoneId: 'UTC' });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(server.url + '/');
    await page.getByLabel('Access token').fill(user.token);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.locator('#schedules-section').waitFor({ state: 'visible' });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await store.drop();
  });

  test('an empty list says so; a bad cron is refused in words and makes nothing', async () => {
    expect(await page.locator('#schedules-empty').isVisible()).toBe(true);
    await page.getByLabel('Title').fill('nightly');
    await page.getByLabel('Read from dataset(s)').selectOption([user.dataset]);
    await page.getByLabel('Cron').fill('0 2 * *');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    const error = page.locator('#schedule-create-error');
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toBe('cron "0 2 * *" has 4 fields; it needs five: minute hour day-of-month month day-of-week, e.g. "0 2 * * *"');
    expect(await page.locator('#schedules-list > li').count()).toBe(0);
  });

  test('create: the schedule is listed with its next run; run now: the run appears with a link to its schedule', async () => {
    await page.getByLabel('Cron').fill('30 2 * * *');
    await page.getByLabel('Zone of the timetable').fill('Europe/Paris');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    await schedule('nightly').waitFor();
    expect(await page.locator('#schedule-create-error').isHidden()).toBe(true);
    expect(await page.locator('#schedules-notice').textContent()).toMatch(/^Schedule "nightly" created; next run /);
    const item = schedule('nightly');
    expect(await item.locator('.schedule-when').textContent()).toBe('cron 30 2 * * * in Europe/Paris');
    // 02:30 in Paris is 01:30 or 00:30 UTC, the page's zone here.
    expect(await item.locator('.schedule-next').textContent()).toMatch(/^Next run: .*(1|12):30 AM · Last run: —$/);
    expect(await item.locator('.schedule-last').textContent()).toBe('No run yet');
    // A fresh form after a create: nothing carried over.
    expect(await page.getByLabel('Title').inputValue()).toBe('');

    await item.getByRole('button', { name: 'Run now' }).click();
    await until('the run in the export list', async () => (await runs().count()) === 1);
    const run = runs().first();
    await until('the run to complete', async () => (await run.getAttribute('data-status')) === 'COMPLETED', 60_000);
    const link = run.locator('a.export-schedule');
    await until('the link to its schedule', async () => (await link.count()) === 1 && (await link.textContent()) === 'Run of schedule “nightly”');
    expect(await run.locator('.export-name').textContent()).toMatch(/^nightly \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await until('the last run shown', async () => /^Latest run: nightly .* \(COMPLETED\)$/.test((await item.locator('.schedule-last').textContent()) ?? ''));
    expect(await item.locator('.schedule-next').textContent()).not.toMatch(/Last run: —$/);
    await link.click();
    const id = await item.getAttribute('data-id');
    expect(await page.evaluate(() => location.hash)).toBe(`#schedule-${id}`);
  });

  test('pause and resume', async () => {
    const item = schedule('nightly');
    await item.getByRole('button', { name: 'Pause' }).click();
    await until('paused', async () => (await item.locator('.badge').textContent()) === 'PAUSED');
    expect(await item.locator('.schedule-next').textContent()).toMatch(/^Next run: paused · /);
    await item.getByRole('button', { name: 'Resume' }).click();
    await until('active again', async () => (await schedule('nightly').locator('.badge').textContent()) === 'ACTIVE');
    expect(await schedule('nightly').locator('.schedule-next').textContent()).toMatch(/^Next run: .*:30 AM/);
  });

  test('re-run of a finished export makes a new one', async () => {
    const run = runs().first();
    await run.getByRole('button', { name: 'Re-run' }).click();
    await until('a second export', async () => (await runs().count()) === 2);
    await until('both finished', async () => (await page.locator('#exports-list > li[data-status="COMPLETED"]').count()) === 2, 60_000);
  });

  test('delete asks first; the schedule goes, its run stays without the link', async () => {
    const item = schedule('nightly');
    page.once('dialog', (d) => void d.dismiss());
    await item.getByRole('button', { name: 'Delete' }).click();
    expect(await schedule('nightly').count()).toBe(1);
    page.once('dialog', (d) => void d.accept());
    await schedule('nightly').getByRole('button', { name: 'Delete' }).click();
    await until('the schedule gone', async () => (await schedule('nightly').count()) === 0);
    expect(await page.locator('#schedules-notice').textContent()).toBe('Schedule "nightly" deleted; its runs stay in the list.');
    expect(await page.locator('#schedules-empty').isVisible()).toBe(true);
    expect(await runs().count()).toBe(2);
    await until('the link gone', async () => (await page.locator('a.export-schedule').count()) === 0);
    expect(pageErrors).toEqual([]);
  });
});
