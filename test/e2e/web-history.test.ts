import { chromium, Browser } from 'playwright-core';
import { STORE, TestServer, TestStore, waitForExport } from './harness';
import { createExport } from './delivery-support';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

describe(`an export's history on the page on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    await store.create();
    server = new TestServer(store);
    await server.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await store.drop();
  });

  test('each export shows its history in words, the server\'s messages included, and a new export\'s arrives live', async () => {
    const { token, dataset } = await store.seededUser('page@example.com', 500);
    const id = await createExport(server, token, { name: 'with history', dataRange: { datasets: [dataset] } });
    await waitForExport(server, token, id);
    const errors: string[] = [];
    const page = await browser.newPage({ locale: 'en-US' });
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${server.url}/`);
    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Use token' }).click();
    const row = page.locator(`#exports-list > li[data-id="${id}"]`);
    await row.waitFor();
    const history = row.locator('.export-history');
    await history.locator('summary').click();
    const items = history.locator('li');
    await items.nth(2).waitFor();
    const texts = await items.allTextContents();
    expect(texts.map((t) => t.replace(/^.*?: /, ''))).toEqual(['Queued', 'Started (attempt 1)', 'Completed']);
    expect(await history.locator('summary').textContent()).toBe('History (3)');

    // An export made elsewhere while the page is open arrives through the subscription, history and all.
    const later = await createExport(server, token, { name: 'second', dataRange: { datasets: [dataset] }, from: 0, to: 1 });
    await waitForExport(server, token, later);
    const second = page.locator(`#exports-list > li[data-id="${later}"] .export-history li`);
    await second.nth(2).waitFor({ state: 'attached', timeout: 20_000 }); // its History is closed: attached, not visible
    expect((await second.allTextContents()).map((t) => t.replace(/^.*?: /, ''))).toEqual(['Queued', 'Started (attempt 1)', 'Completed']);
    expect(errors).toEqual([]);
  });
});
