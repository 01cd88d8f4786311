import fs from 'node:fs';
import os from 'node:os';

/**
 * Export work is throughput work: on Linux this thread gets a lower scheduling priority (nice 10), so
 * the server's event loop answers requests first when the cores are busy. Elsewhere it runs as is.
 */
export function lowerThisThreadsPriority(): void {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, 10);
  } catch {
    // not Linux, or not permitted: the export runs at normal priority
  }
}
