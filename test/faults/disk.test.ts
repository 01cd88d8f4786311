import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TestServer, TestStore, waitForExport } from '../e2e/harness';
import { download, exportFiles, exportId, exportRow, HEAVY, observed, Processes, sha256, tmpFiles } from './support';

const EVENTS = 300_000;
const DISK = '4m';

const freeBytes = (dir: string) => {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
};

/** EXPORTS_DIR on a tmpfs of a few MB: an export that does not fit fails in words, and everything else goes on. */
describe('disk full (MariaDB, EXPORTS_DIR on a small tmpfs)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  const filler = () => path.join(store.exportsDir, 'filler.bin');
  let mounted = false;
  let server: TestServer;
  let token: string;
  let input: Record<string, unknown>;

  beforeAll(async () => {
    fs.mkdirSync(store.exportsDir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK}`, 'tmpfs', store.exportsDir], { stdio: 'pipe' });
      mounted = true;
    } catch (err) {
      throw new Error(
        `this test needs a ${DISK} tmpfs for EXPORTS_DIR and could not mount one at ${store.exportsDir} ` +
          `(run the fault tests as root, or in a container with CAP_SYS_ADMIN): ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`,
      );
    }
    await store.create();
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    const dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'sensors', '--owner', 'ana@example.com'])).id;
    await store.cli(['seed', '--dataset', dataset, '--events', String(EVENTS)]);
    input = { dataRange: { datasets: [dataset] }, ...HEAVY };
    server = await procs.server(store); // with its in-process worker
  });

  afterAll(async () => {
    await procs.killAll();
    if (mounted) {
      try {
        execFileSync('umount', [store.exportsDir]);
      } catch {
        execFileSync('umount', ['-l', store.exportsDir]);
      }
    }
    await store.drop();
  });

  test('the export that fills the disk is FAILED saying the disk is full, its temporary file goes, other exports and the server carry on', async () => {
    // Leave about 1 MB free: the export below needs about twice that, compressed.
    fs.writeFileSync(filler(), crypto.randomBytes(3 * 1024 * 1024));
    const freeBefore = freeBytes(store.exportsDir);

    const big = await exportId(server, token, input);
    const failed = await waitForExport(server, token, big, ['FAILED'], 60_000);
    const row = await exportRow(store, big);
    const freeAfter = freeBytes(store.exportsDir);
    expect(failed.status.message).toBe('the exports disk is full: the export could not be written (free space in EXPORTS_DIR, then export again)');
    expect(row).toMatchObject({ status: 'FAILED', attempt: 1, file_name: null, lease_owner: null });
    expect(exportFiles(store.exportsDir, big)).toEqual([]);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
    expect(freeAfter).toBe(freeBefore); // its partial file is gone

    // The server answers and small exports that fit still complete.
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const small = await exportId(server, token, { ...input, limit: 1000 });
    const smallDone = await waitForExport(server, token, small);
    const got = await download(server, token, small);
    expect(got.status).toBe(200);
    expect(sha256(got.csv)).toBe(smallDone.result.sha256);

    // Once space is freed, the same export that did not fit completes.
    fs.rmSync(filler());
    const again = await exportId(server, token, input);
    const done = await waitForExport(server, token, again, ['COMPLETED'], 60_000);
    expect(done.status.recordsProcessed).toBe(EVENTS);
    const whole = await download(server, token, again, true);
    expect(sha256(whole.csv)).toBe(done.result.sha256);
    observed('disk full', {
      disk: DISK, freeBeforeBytes: freeBefore, processedWhenFull: row.records_processed, freeAfterFailureBytes: freeAfter,
      message: failed.status.message, smallExport: smallDone.status.status, afterFreeing: done.status.status, compressedBytes: done.result.compressedSizeInBytes,
    });
    expect(done.result.compressedSizeInBytes).toBeGreaterThan(freeBefore);
  });
});
