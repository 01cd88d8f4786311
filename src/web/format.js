// Numbers, sizes, dates, rates and time left in words: pure functions the page and its tests share.

const numberFormat = new Intl.NumberFormat();
export const fmt = (n) => numberFormat.format(n);
export const when = (ms) => new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function bytes(n) {
  if (n < 1024) return `${fmt(n)} bytes`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** Records a second since the export started, and the time left at that rate; null until there is a rate. */
export function rateAndTimeLeft(processed, estimate, startedOn, now = Date.now()) {
  if (!startedOn || processed <= 0) return null;
  const seconds = (now - startedOn) / 1000;
  if (seconds <= 0) return null;
  const rate = processed / seconds;
  const left = estimate > processed ? (estimate - processed) / rate : 0;
  return { rate, left };
}

export const FORMAT_NAMES = { CSV: 'CSV', JSONL: 'JSON Lines', PARQUET: 'Parquet', XLSX: 'Excel (XLSX)' };
