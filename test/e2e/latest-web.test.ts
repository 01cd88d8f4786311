import fs from 'node:fs';
import path from 'node:path';
import { Browser, chromium, Locator, Page } from 'playwright-core';
import { parseCsv, STORE, TestServer, TestStore, waitFor } from './harness';

/**
 * The create form's two controls for issue 12 (Order, Latest value only) in a real Chromium: the rule
 * between them as a person sees it, and the exports made from the page carrying them (asked over
 * GraphQL, and seen in the downloaded rows). Launched as test/e2e/web.test.ts launches it.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];
const EMAIL = 'order@example.com';
const EVENTS = 2_000;
const artifact = (name: string) => path.join(ARTIFACTS, `latest-web-${STORE}-${name}.png`);

describe(`the page's order and latest controls on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let token: string;
  let datasetId: string;
  const pageErrors: string[] = [];

  const item = (name: string): Locator => page.getByRole('listitem', { name, exact: true });

  /** Fills the form, creates, waits for COMPLETED on the page; returns what the server stored and the rows. */
  async function createFromPage(name: string, set: () => Promise<void>, screenshot: string) {
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Datasets').selectOption([datasetId]);
    await set();
    await page.screenshot({ path: artifact(`${screenshot}-form`), fullPage: true });
    await page.getByRole('button', { name: 'Create export' }).click();
    const row = item(name);
    await row.waitFor();
    const id = (await row.getAttribute('data-id')) as string;
    await waitFor(async () => (await row.getAttribute('data-status')) === 'COMPLETED', `${name} COMPLETED on the page`, 60_000);
    await page.screenshot({ path: artifact(`${screenshot}-completed`), fullPage: true });
    const asked = (await server.data('query($id: String!) { me { export(id: $id) { latest order recordsProcessed: status { recordsProcessed } } } }', { id }, token)).me.export;
    const res = await fetch(`${server.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const [header, ...rows] = parseCsv(await res.text());
    return { row, asked, header, rows };
  }

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await store.create();
    await store.cli(['migrate']);
    ({ token, dataset: datasetId } = await store.seededUser(EMAIL, EVENTS));
    server = new TestServer(store);
    await server.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: 'en-US' });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(server.url + '/');
    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.locator('#who-email', { hasText: EMAIL }).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await store.drop();
  });

  test('"Newest first" makes a DESC export: the page says so and the rows come newest first', async () => {
    const order = page.getByLabel('Order');
    expect(await order.inputValue()).toBe('ASC');
    expect(await page.getByLabel('Latest value only').isChecked()).toBe(false);
    const { row, asked, header, rows } = await createFromPage('newest', async () => { await order.selectOption('DESC'); }, 'desc');
    expect(asked).toMatchObject({ latest: false, order: 'DESC', recordsProcessed: { recordsProcessed: EVENTS } });
    expect(await row.locator('.export-file').textContent()).toMatch(/ · newest first · /);
    const at = header.indexOf('timestamp');
    const times = rows.map((r) => Number(r[at]));
    expect(times).toHaveLength(EVENTS);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(times[0]).toBeGreaterThan(times[times.length - 1]);
  });

  test('"Latest value only" sets Oldest first and locks Order; the export is latest: one row per series', async () => {
    const order = page.getByLabel('Order');
    const latest = page.getByLabel('Latest value only');
    await order.selectOption('DESC');
    await latest.check();
    expect(await order.inputValue()).toBe('ASC');
    expect(await order.isDisabled()).toBe(true);
    const { row, asked, header, rows } = await createFromPage('latest', async () => undefined, 'latest');
    expect(asked).toMatchObject({ latest: true, order: 'ASC' });
    expect(await row.locator('.export-file').textContent()).toMatch(/ · latest value of each sensor · /);
    const series = rows.map((r) => JSON.stringify([r[header.indexOf('dataset')], r[header.indexOf('source')], r[header.indexOf('metric')]]));
    expect(new Set(series).size).toBe(rows.length);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(EVENTS);

    await latest.uncheck();
    expect(await order.isEnabled()).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
