import fs from 'node:fs';
import path from 'node:path';
import { Browser, BrowserContext, chromium, Locator, Page } from 'playwright-core';
import yauzl from 'yauzl';
import { parseCsv, STORE, TestServer, TestStore, waitFor } from './harness';

/**
 * The "My exports" page (SPEC §10) in a real Chromium against the real server: token handling, the
 * create form, live progress from the subscription, download through createDownloadLink, cancel,
 * remove, and a phone-width layout. Everything is observed in the page, as a person would see it.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];
/** Enough rows that generating takes seconds, so the bar is seen part-way. */
const EVENTS = 300_000;
const EMAIL = 'web@example.com';
const DEFAULT_HEADER = ['timestamp', 'dataset', 'metric', 'source', 'value'];

// Functions passed to page.evaluate run in the browser; the test compiles without the DOM library, so
// the few browser globals they touch are declared here, for this file only.
declare const window: any, document: any, sessionStorage: any, MutationObserver: any;

function zipEntry(file: Buffer, name: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName !== name) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => resolve(Buffer.concat(chunks)));
        });
      });
      zip.on('end', () => reject(new Error(`${name} is not in the ZIP`)));
      zip.readEntry();
    });
  });
}

const artifact = (name: string) => path.join(ARTIFACTS, `web-${STORE}-${name}.png`);

interface Snapshot {
  id: string;
  status: string;
  value: number | null;
  max: number;
  text: string;
}

/** Records every state an export row shows, from inside the page, so no intermediate value is missed. */
function recordProgress(page: Page): Promise<void> {
  return page.evaluate(() => {
    const w = window as { __progress: Snapshot[]; __observer?: any };
    w.__progress = [];
    const last = new Map<string, string>();
    const take = () => {
      for (const li of document.querySelectorAll('#exports-list > li')) {
        const bar = li.querySelector('progress');
        const snap = {
          id: li.dataset.id as string,
          status: li.dataset.status as string,
          value: bar.hasAttribute('value') ? Number(bar.getAttribute('value')) : null,
          max: Number(bar.getAttribute('max')),
          text: li.querySelector('.export-status')?.textContent ?? '',
        };
        const key = JSON.stringify(snap);
        if (last.get(snap.id) !== key) {
          last.set(snap.id, key);
          w.__progress.push(snap);
        }
      }
    };
    w.__observer?.disconnect();
    w.__observer = new MutationObserver(take);
    w.__observer.observe(document.getElementById('exports-list'), { subtree: true, childList: true, attributes: true, characterData: true });
    take();
  });
}

const snapshots = (page: Page, id: string): Promise<Snapshot[]> =>
  page.evaluate((exportId) => (window as { __progress: Snapshot[] }).__progress.filter((s) => s.id === exportId), id);

/** Waits until the page shows something; polls the page, never sleeps blindly. */
const until = (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) => waitFor(async () => (await check()) || undefined, what, timeoutMs, 50);

describe(`the "My exports" page in Chromium on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let token: string;
  let datasetId: string;
  const pageErrors: string[] = [];
  const graphqlPosts: { at: number; query: string }[] = [];
  const framesIn: string[] = [];
  let firstId = '';

  const item = (name: string, p: Page = page): Locator => p.getByRole('listitem', { name, exact: true });
  const statusOf = (row: Locator) => row.getAttribute('data-status');
  const alertText = (id: string, p: Page = page) => p.locator(`#${id}`).textContent();

  async function openPage(ctx: BrowserContext): Promise<Page> {
    const p = await ctx.newPage();
    p.on('pageerror', (err) => pageErrors.push(err.message));
    p.on('request', (req) => {
      if (req.method() === 'POST' && new URL(req.url()).pathname === '/graphql') graphqlPosts.push({ at: Date.now(), query: String(JSON.parse(req.postData() ?? '{}').query) });
    });
    p.on('websocket', (ws) => ws.on('framereceived', (frame) => framesIn.push(String(frame.payload))));
    await p.goto(server.url + '/');
    return p;
  }

  async function pasteToken(p: Page, value: string): Promise<void> {
    await p.getByLabel('Access token').fill(value);
    await p.getByRole('button', { name: 'Use token' }).click();
  }

  async function createThroughForm(name: string, extra: (p: Page) => Promise<void> = async () => undefined): Promise<void> {
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Datasets').selectOption([datasetId]);
    await extra(page);
    await page.getByRole('button', { name: 'Create export' }).click();
  }

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await store.create();
    await store.cli(['migrate']);
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', EMAIL])).token;
    datasetId = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'sensors', '--owner', EMAIL])).id;
    expect(await store.cli(['seed', '--dataset', datasetId, '--events', String(EVENTS)])).toEqual({ inserted: EVENTS });
    // One export generating at a time, so that a second one is seen waiting in the queue.
    server = new TestServer(store, { EXPORT_CONCURRENCY: '1' });
    await server.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true, locale: 'en-US' });
    page = await openPage(context);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await store.drop();
  });

  test('a refused token is explained in words, with how to get one', async () => {
    await pasteToken(page, 'slc_this-is-not-a-token');
    const error = page.locator('#token-error');
    await error.waitFor({ state: 'visible' });
    expect(await error.getAttribute('role')).toBe('alert');
    const text = await error.textContent();
    expect(text).toMatch(/refused this token/);
    expect(text).toContain('npx sluice token create --email you@example.com');
    expect(await page.locator('#create-section').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('sluice.token'))).toBeNull();
  });

  test('the real token shows the email, live updates connect, and the token survives a reload but not "forget"', async () => {
    await pasteToken(page, token);
    await page.locator('#who-email', { hasText: EMAIL }).waitFor();
    expect(await page.locator('#token-error').isHidden()).toBe(true);
    await page.locator('#live[data-state="live"]').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('sluice.token'))).toBe(token);

    await page.reload();
    await page.locator('#who-email', { hasText: EMAIL }).waitFor();
    await page.getByRole('button', { name: 'Forget token' }).click();
    await page.getByLabel('Access token').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('sluice.token'))).toBeNull();
    expect(await page.locator('#who').isHidden()).toBe(true);

    await pasteToken(page, token);
    await page.locator('#who-email', { hasText: EMAIL }).waitFor();
    await page.locator('#live[data-state="live"]').waitFor();
    // The form offers the dataset, its metrics and the 11 fields with the default five ticked.
    expect(await page.getByLabel('Datasets').locator('option').allTextContents()).toEqual([`sensors (id ${datasetId})`]);
    expect(await page.locator('#metrics-list input').count()).toBe(5);
    expect(await page.locator('#fields-list input').count()).toBe(11);
    expect(await page.locator('#fields-list input:checked').evaluateAll((inputs) => inputs.map((i) => (i as any).value))).toEqual(DEFAULT_HEADER);
    expect(await page.locator('#exports-empty').isVisible()).toBe(true);
  });

  test('form mistakes are explained before or after sending: bad JSON, an envelope error, the network', async () => {
    // The page's first reads (exports, schedules) may still be on their way: count from when they are done.
    await page.waitForLoadState('networkidle');
    const postsBefore = graphqlPosts.length;
    await createThroughForm('wrong', (p) => p.getByLabel('Filter').fill('{"value": {"_gt": 20}'));
    await page.locator('#create-error').waitFor({ state: 'visible' });
    expect(await alertText('create-error')).toMatch(/filter is not valid JSON.*Nothing was sent/);
    expect(graphqlPosts.length).toBe(postsBefore);

    await page.getByLabel('Filter').fill('{"colour": {"_eq": "red"}}');
    await page.getByRole('button', { name: 'Create export' }).click();
    await until('the envelope message on the page', async () => /not created: .*colour/.test((await alertText('create-error')) ?? ''));

    await page.route('**/graphql', (route) => route.abort('connectionrefused'));
    await page.getByLabel('Filter').fill('');
    await page.getByRole('button', { name: 'Create export' }).click();
    await until('the network error on the page', async () => /Could not reach the Sluice server/.test((await alertText('create-error')) ?? ''));
    await page.unroute('**/graphql');
    expect(await page.locator('#exports-list > li').count()).toBe(0);
  });

  test('an export made through the form shows live progress from the subscription, then COMPLETED', async () => {
    await recordProgress(page);
    const started = Date.now();
    await createThroughForm('web journey');
    const row = item('web journey');
    await row.waitFor();
    firstId = (await row.getAttribute('data-id')) as string;
    expect(await page.locator('#create-error').isHidden()).toBe(true);

    const bar = page.getByRole('progressbar', { name: 'web journey' });
    await page.waitForFunction(
      (id) => (window as { __progress: Snapshot[] }).__progress.some((s) => s.id === id && s.value !== null && s.value > 0 && s.value < s.max),
      firstId,
      { timeout: 60_000, polling: 'raf' },
    );
    await page.screenshot({ path: artifact('mid-progress'), fullPage: true });
    await until('COMPLETED on the page', async () => (await statusOf(row)) === 'COMPLETED', 90_000);
    const finished = Date.now();

    const seen = await snapshots(page, firstId);
    const partway = seen.filter((s) => s.status === 'GENERATING' && s.value !== null && s.value > 0 && s.value < s.max);
    expect(partway.length).toBeGreaterThanOrEqual(1);
    expect(partway[0].max).toBe(EVENTS);
    expect(partway[0].text).toMatch(/^Writing: [\d,]+ of 300,000 records \(\d+%\)\.( [\d,]+ records\/s, about [\dhmins ]+ left\.)?$/);
    // the rate and the time left, once there is a rate
    expect(partway.some((s) => /^Writing: .* [\d,]+ records\/s, about [\dhmins ]+ left\.$/.test(s.text))).toBe(true);
    // Values only go up, and the last state is a full bar with the count in words.
    const values = seen.map((s) => s.value).filter((v): v is number => v !== null);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    const last = seen[seen.length - 1];
    expect(last).toMatchObject({ status: 'COMPLETED', value: EVENTS, max: EVENTS });
    expect(last.text).toMatch(/^Done: 300,000 records, [\d.]+ MB\. Kept until /);
    expect(await bar.getAttribute('value')).toBe(String(EVENTS));
    expect(await row.locator('.badge').textContent()).toBe('COMPLETED');
    expect(await row.locator('.export-id').textContent()).toMatch(new RegExp(`^id ${firstId} · asked .* · from sensors$`));
    const result = (await server.data('query($id: String!) { me { export(id: $id) { format result { sha256 compressedSizeInBytes } } } }', { id: firstId }, token)).me.export;
    expect(result.format).toBe('CSV');
    expect(await row.locator('.export-file').textContent()).toMatch(new RegExp(`^CSV · [\\d.]+ (KB|MB) to download · sha256 ${result.result.sha256}$`));

    // Fed by the subscription: the only GraphQL POST meanwhile was the mutation, and progress arrived as `next` frames.
    const posts = graphqlPosts.filter((p) => p.at >= started && p.at <= finished);
    expect(posts.map((p) => p.query.match(/^\s*(\w+ \w+)/)?.[1])).toEqual(['mutation CreateExport']);
    const progressFrames = framesIn.map((f) => JSON.parse(f)).filter((m) => m.type === 'next' && JSON.stringify(m.payload).includes(firstId));
    expect(progressFrames.some((m) => { const s = (m.payload.data.exportUpdated ?? m.payload.data.myExportsUpdated).status; return s.recordsProcessed > 0 && s.recordsProcessed < EVENTS; })).toBe(true);
  });

  test('Download fetches the CSV through a download link: header and every seeded row', async () => {
    const row = item('web journey');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), row.getByRole('button', { name: 'Download' }).click()]);
    expect(download.suggestedFilename()).toBe('web journey.csv');
    expect(download.url()).toMatch(new RegExp(`/api/v3/data/exports/${firstId}\\?token=`));
    const file = await download.path();
    const rows = parseCsv(fs.readFileSync(file, 'utf8'));
    expect(rows[0]).toEqual(DEFAULT_HEADER);
    expect(rows.length - 1).toBe(EVENTS);
    expect(rows[1][1]).toBe(datasetId);
    expect(rows.every((r) => r.length === DEFAULT_HEADER.length)).toBe(true);
    // The page stayed where it was, still live.
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await row.locator('.export-error').isHidden()).toBe(true);
    expect(await page.locator('#live').getAttribute('data-state')).toBe('live');
  });

  test('a waiting export shows its queue position; Cancel makes it CANCELLED with the reason', async () => {
    await recordProgress(page);
    await createThroughForm('keeps the worker busy');
    await item('keeps the worker busy').waitFor();
    await createThroughForm('waits its turn');
    const waiting = item('waits its turn');
    await waiting.waitFor();
    await until('the queue position in words', async () => /Waiting in the queue, position 1 \(1 means next to start\)\./.test((await waiting.locator('.export-status').textContent()) ?? ''));
    expect(await statusOf(waiting)).toBe('QUEUING');
    expect(await waiting.getByRole('button', { name: 'Download' }).isHidden()).toBe(true);

    await waiting.getByRole('button', { name: 'Cancel' }).click();
    await until('CANCELLED on the page', async () => (await statusOf(waiting)) === 'CANCELLED');
    expect(await waiting.locator('.export-message').textContent()).toBe('Why it was cancelled: cancelled by the user');
    expect(await waiting.locator('.export-status').textContent()).toMatch(/^Cancelled after 0/);
    expect(await waiting.getByRole('button', { name: 'Cancel' }).isHidden()).toBe(true);
    expect(await waiting.getByRole('button', { name: 'Download' }).isHidden()).toBe(true);
    expect(await waiting.getByRole('button', { name: 'Remove' }).isVisible()).toBe(true);
  });

  test('Remove takes an export off the list (cancelling it first if it runs)', async () => {
    const busy = item('keeps the worker busy');
    const busyId = (await busy.getAttribute('data-id')) as string;
    expect(await page.locator('#exports-list > li').count()).toBe(3);
    // Remove asks first; saying no keeps the export
    const asked: string[] = [];
    page.once('dialog', (d) => { asked.push(d.message()); void d.dismiss(); });
    await busy.getByRole('button', { name: 'Remove' }).click();
    await until('the confirmation', async () => asked.length === 1);
    expect(asked[0]).toMatch(/^Remove “keeps the worker busy”\?.*cannot be undone\.$/);
    expect(await page.locator('#exports-list > li').count()).toBe(3);
    expect((await server.gql('query($id: String!) { me { export(id: $id) { id } } }', { id: busyId }, token)).body.data?.me.export.id).toBe(busyId);
    page.once('dialog', (d) => void d.accept());
    await busy.getByRole('button', { name: 'Remove' }).click();
    await busy.waitFor({ state: 'detached' });
    expect(await page.locator('#exports-notice').textContent()).toBe('Removed “keeps the worker busy”.');
    expect(await page.locator('#exports-list > li').count()).toBe(2);
    const names = await page.locator('#exports-list .export-name').allTextContents();
    expect(names).toEqual(['waits its turn', 'web journey']); // newest first
    const gone = await server.gql('query($id: String!) { me { export(id: $id) { id } } }', { id: busyId }, token);
    expect(gone.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });

  test('format, packaging, timestamps, zone, precision, header and excelSafe reach the export; options that do not apply are not offered; the next form starts from defaults', async () => {
    const format = page.getByLabel('Format');
    const excelSafe = page.getByLabel('Excel-safe CSV (BOM, formulas neutralised)');
    const zone = page.getByLabel('Time zone');
    const timestamps = page.getByLabel('Timestamps');
    expect(await format.inputValue()).toBe('CSV');
    expect(await excelSafe.isEnabled()).toBe(true);
    expect(await zone.isDisabled()).toBe(true); // epoch numbers have no zone

    await format.selectOption('PARQUET');
    expect(await excelSafe.isDisabled()).toBe(true);
    expect(await timestamps.locator('option[value="ISO8601"]').isDisabled()).toBe(true);
    expect(await page.locator('#format-hint').textContent()).toMatch(/always UTC/);
    await page.screenshot({ path: artifact('form-parquet'), fullPage: true });

    await format.selectOption('XLSX');
    await page.getByLabel('Packaging').selectOption('ZIP');
    await timestamps.selectOption('ISO8601');
    expect(await zone.isEnabled()).toBe(true);
    await zone.fill('Europe/Paris');
    await page.getByLabel('Precision').selectOption('SECONDS');
    await page.getByLabel('Header row').uncheck();
    const metric = page.locator('#metrics-list input').first();
    await createThroughForm('workbook', async () => { await metric.check(); });
    const row = item('workbook');
    await row.waitFor();
    const id = (await row.getAttribute('data-id')) as string;
    await until('COMPLETED on the page', async () => (await statusOf(row)) === 'COMPLETED', 120_000);
    const asked = (await server.data('query($id: String!) { me { export(id: $id) { format packaging timestampPrecision dataRange { metrics } result { sha256 } } } }', { id }, token)).me.export;
    expect(asked).toMatchObject({ format: 'XLSX', packaging: 'ZIP', timestampPrecision: 'SECONDS' });
    expect(asked.dataRange.metrics).toHaveLength(1);
    expect(await row.locator('.export-file').textContent()).toMatch(new RegExp(`^Excel \\(XLSX\\) in a ZIP · [\\d.]+ (KB|MB) to download · sha256 ${asked.result.sha256}$`));
    await page.screenshot({ path: artifact('xlsx-zip-completed'), fullPage: true });

    // the rest of the choices, as the ZIP's manifest records the request
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), row.getByRole('button', { name: 'Download' }).click()]);
    expect(download.suggestedFilename()).toBe('workbook.zip');
    const manifest = JSON.parse((await zipEntry(fs.readFileSync(await download.path()), 'manifest.json')).toString('utf8'));
    expect(manifest.request).toMatchObject({ format: 'XLSX', packaging: 'ZIP', timestampFormat: 'ISO8601', timeZone: 'Europe/Paris', timestampPrecision: 'SECONDS', header: false, excelSafe: false });

    // a new form starts from the defaults, not from the last export's choices
    expect(await format.inputValue()).toBe('CSV');
    expect(await page.getByLabel('Packaging').inputValue()).toBe('NONE');
    expect(await timestamps.inputValue()).toBe('EPOCH');
    expect(await zone.inputValue()).toBe('UTC');
    expect(await page.getByLabel('Precision').inputValue()).toBe('MILLISECONDS');
    expect(await page.getByLabel('Header row').isChecked()).toBe(true);
    expect(await metric.isChecked()).toBe(false);
    expect(await page.locator('#fields-list input:checked').evaluateAll((inputs) => inputs.map((i) => i.value))).toEqual(DEFAULT_HEADER);

    // excelSafe on a CSV, then "Start from defaults" clears it
    await excelSafe.check();
    await page.getByRole('button', { name: 'Start from defaults' }).click();
    expect(await excelSafe.isChecked()).toBe(false);

    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Remove' }).click();
    await row.waitFor({ state: 'detached' });
  });

  test('at phone width the list fits, with no sideways scroll, and its buttons can be reached', async () => {
    await page.screenshot({ path: artifact('desktop'), fullPage: true });
    const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, locale: 'en-US' });
    try {
      const p = await openPage(phone);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
      await pasteToken(p, token);
      await p.locator('#who-email', { hasText: EMAIL }).waitFor();
      await item('web journey', p).waitFor();
      expect(await p.locator('#exports-list > li').count()).toBe(2);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
      const buttons = p.locator('#exports-list button:visible, #create-form button:visible, header button:visible');
      expect(await buttons.count()).toBeGreaterThanOrEqual(5);
      for (const button of await buttons.all()) {
        await button.scrollIntoViewIfNeeded();
        const box = await button.boundingBox();
        expect(box).not.toBeNull();
        expect(box!.x).toBeGreaterThanOrEqual(0);
        expect(box!.x + box!.width).toBeLessThanOrEqual(360);
        expect(box!.height).toBeGreaterThanOrEqual(36); // big enough for a thumb
      }
      await item('web journey', p).getByRole('button', { name: 'Download' }).waitFor({ state: 'visible' });
      // the form is one tap away, without scrolling past the list; hints speak of taps
      await p.evaluate(() => window.scrollTo(0, 0));
      const jump = p.getByRole('link', { name: 'New export ↓' });
      expect(await jump.isVisible()).toBe(true);
      expect((await jump.boundingBox())!.y).toBeLessThan(740);
      await jump.click();
      await until('the form in view', async () => p.locator('#create-title').evaluate((h) => { const r = h.getBoundingClientRect(); return r.top >= 0 && r.top < 740; }));
      expect(await p.locator('#datasets-hint').textContent()).toBe('Tap to choose one or more.');
      await p.screenshot({ path: artifact('phone-form') });
      await p.evaluate(() => window.scrollTo(0, 0));
      await p.screenshot({ path: artifact('phone'), fullPage: true });
    } finally {
      await phone.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
