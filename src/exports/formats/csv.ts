import { stringify } from 'csv-stringify/sync';
import { EventFieldName, FIELD_COLUMNS, FRACTION_DIGITS, MICROS_PER } from '../../events/event-schema';
import { ExportParams, Precision } from '../params';
import { csvBytesPerRecord } from './field-bytes';
import { ExportFormat } from './format';

type Row = unknown[];
type Cell = (row: Row) => string;


function text(v: unknown): string {
  return v === null || v === undefined ? '' : String(v);
}

/** Zone offsets only change on quarter-hour boundaries, so one Intl lookup serves every row in that quarter. */
export function zoneOffsetMinutes(timeZone: string): (epochMs: number) => number {
  if (timeZone === 'UTC') return () => 0;
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  });
  const cache = new Map<number, number>();
  return (epochMs) => {
    const quarter = Math.floor(epochMs / 900_000);
    let offset = cache.get(quarter);
    if (offset === undefined) {
      const at = quarter * 900_000;
      const p = Object.fromEntries(format.formatToParts(at).map((x) => [x.type, x.value]));
      const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
      offset = Math.round((wall - at) / 60_000);
      if (cache.size > 10_000) cache.clear();
      cache.set(quarter, offset);
    }
    return offset;
  };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** µs epoch -> ISO 8601 in the zone, with its offset and as many fraction digits as the precision. */
export function isoFormatter(precision: Precision, timeZone: string): (micros: number) => string {
  const offsetOf = zoneOffsetMinutes(timeZone);
  const digits = FRACTION_DIGITS[precision];
  return (micros) => {
    const ms = Math.floor(micros / 1000);
    const offset = offsetOf(ms);
    const d = new Date(ms + offset * 60_000);
    const fraction = digits === 0 ? '' : `.${pad(micros - Math.floor(micros / 1_000_000) * 1_000_000, 6).slice(0, digits)}`;
    const sign = offset < 0 ? '-' : '+';
    const abs = Math.abs(offset);
    const zone = offset === 0 && timeZone === 'UTC' ? 'Z' : `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
    return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fraction}${zone}`;
  };
}

/** Answers of isValidTimeZone: each check built an Intl.DateTimeFormat, and every estimate and export asks. */
const timeZoneAnswers = new Map<string, boolean>();
/** Far more zones than exist, yet bounded, since the string comes from a user. */
const TIME_ZONE_CACHE = 500;
/** The longest IANA name is 32 characters; longer strings are answered without being remembered. */
const TIME_ZONE_CACHED_LENGTH = 64;

export function isValidTimeZone(timeZone: string): boolean {
  const known = timeZoneAnswers.get(timeZone);
  if (known !== undefined) return known;
  let valid: boolean;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    valid = true;
  } catch {
    valid = false;
  }
  if (timeZone.length <= TIME_ZONE_CACHED_LENGTH) {
    // Oldest first out: a stream of made-up names cannot grow the map, and real zones are asked again soon.
    if (timeZoneAnswers.size >= TIME_ZONE_CACHE) timeZoneAnswers.delete(timeZoneAnswers.keys().next().value as string);
    timeZoneAnswers.set(timeZone, valid);
  }
  return valid;
}
// The first Intl.DateTimeFormat of a process loads ICU's zone data (10-25 ms): paid at start, not by the first estimate.
isValidTimeZone('UTC');

/** A plain number cannot run as a spreadsheet formula, so excelSafe leaves "-3.5" as a number. */
const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i;

export function neutraliseFormula(cell: string): string {
  return FORMULA_START.test(cell) && !PLAIN_NUMBER.test(cell) ? `'${cell}` : cell;
}

export interface CsvWriter {
  /** Columns to SELECT, in the order `formatRows` reads them. */
  columns: string[];
  /** BOM and header row (empty string when neither applies). */
  preamble(): string;
  /** One batch of rows as CSV text. */
  formatRows(rows: Row[]): string;
}

/** Text cells remembered with their CSV encoding: series names and values repeat, so most cells are a lookup. */
const KNOWN_CELLS_MAX = 100_000;
/**
 * The memory bound of what is remembered: strings and JSON values run to 65 535 characters, so a count
 * alone would let 100 000 distinct long values hold gigabytes. Longer cells are encoded every time (they
 * rarely repeat), and the whole set is forgotten once it holds this many characters (about 8 MB).
 */
const KNOWN_CELL_MAX_LENGTH = 256;
const KNOWN_CHARS_MAX = 4_000_000;

/**
 * csv-stringify's encoding of text cells, asked once per distinct value. The cells of a batch that it has
 * not seen yet go to one `stringify` call (a one-field record each), and each record is cut back out of its
 * output: csv-stringify leaves a field as it is or quotes it (doubling its quotes), and a field left as it
 * is holds no quote, so the first character says which and the length follows.
 */
function textCellEncoder(options: Parameters<typeof stringify>[1]): (cells: string[]) => string[] {
  return (cells) => {
    const out = stringify(cells.map((cell) => [cell]), options);
    const encoded = new Array<string>(cells.length);
    let at = 0;
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i];
      let length = cell.length;
      if (out.charCodeAt(at) === 0x22) {
        length += 2;
        for (let q = cell.indexOf('"'); q >= 0; q = cell.indexOf('"', q + 1)) length++;
      }
      if (out.charCodeAt(at + length) !== 0x0a) throw new Error(`csv-stringify encoded ${JSON.stringify(cell)} in a way the CSV writer does not know`);
      encoded[i] = out.slice(at, at + length);
      at += length + 1;
    }
    return encoded;
  };
}

/** Builds the CSV writer for one export: column choice, cell formats, quoting. */
export function csvWriter(params: ExportParams): CsvWriter {
  const columns: string[] = [];
  const indexOf = (column: string) => {
    let i = columns.indexOf(column);
    if (i < 0) i = columns.push(column) - 1;
    return i;
  };
  const timeCell = (column: string): Cell => {
    const i = indexOf(column);
    if (params.timestampFormat === 'ISO8601') {
      const iso = isoFormatter(params.timestampPrecision, params.timeZone);
      return (r) => (r[i] === null ? '' : iso(Number(r[i])));
    }
    const divisor = MICROS_PER[params.timestampPrecision];
    return divisor === 1 ? (r) => text(r[i]) : (r) => (r[i] === null ? '' : String(Math.floor(Number(r[i]) / divisor)));
  };
  const plain = (column: string): Cell => {
    const i = indexOf(column);
    return (r) => text(r[i]);
  };
  // Cells the writer makes from numbers (digits, sign, point, exponent; ISO times add T : Z): CSV never
  // quotes them, so they skip the encoder. Every other cell is text and goes through csv-stringify.
  const numeric = new Set<EventFieldName>(['timestamp', 'tsReceived', 'dataset', 'elevation']);
  const cells: Cell[] = params.fields.map((field) => {
    switch (field) {
      case 'timestamp':
        return timeCell(FIELD_COLUMNS.timestamp[0]);
      case 'tsReceived':
        return timeCell(FIELD_COLUMNS.tsReceived[0]);
      case 'producer': {
        const [u, c] = FIELD_COLUMNS.producer.map(indexOf);
        return (r) => (r[u] === null && r[c] === null ? '' : JSON.stringify({ userId: r[u], clientId: r[c] }));
      }
      case 'location': {
        const [lat, lng] = FIELD_COLUMNS.location.map(indexOf);
        return (r) => (r[lat] === null || r[lng] === null ? '' : JSON.stringify({ lat: Number(r[lat]), lng: Number(r[lng]) }));
      }
      case 'elevation': {
        const i = indexOf(FIELD_COLUMNS.elevation[0]);
        return (r) => (r[i] === null ? '' : String(Number(r[i])));
      }
      default:
        return plain(FIELD_COLUMNS[field][0]);
    }
  });
  const isText = params.fields.map((field) => !numeric.has(field));
  const safe = params.excelSafe ? neutraliseFormula : (cell: string) => cell;
  // csv-stringify quotes on comma, quote and LF by itself; RFC 4180 wants CR quoted too.
  const options = { record_delimiter: '\n', quoted_match: /\r/ } as const;
  const encode = textCellEncoder(options);
  const known = new Map<string, string>();
  let knownChars = 0;
  return {
    columns,
    preamble: () => (params.excelSafe ? '\uFEFF' : '') + (params.header ? stringify([params.fields], options) : ''),
    formatRows: (rows) => {
      const width = cells.length;
      const grid = new Array<string>(rows.length * width);
      const unknown: string[] = [];
      const unknownAt: number[] = [];
      for (let r = 0, k = 0; r < rows.length; r++) {
        const row = rows[r];
        for (let c = 0; c < width; c++, k++) {
          const cell = safe(cells[c](row));
          if (!isText[c] || cell === '') {
            grid[k] = cell;
            continue;
          }
          const encoded = known.get(cell);
          if (encoded === undefined) {
            unknown.push(cell);
            unknownAt.push(k);
          } else grid[k] = encoded;
        }
      }
      if (unknown.length) {
        const encoded = encode(unknown);
        for (let i = 0; i < unknown.length; i++) {
          grid[unknownAt[i]] = encoded[i];
          const cell = unknown[i];
          if (cell.length > KNOWN_CELL_MAX_LENGTH) continue;
          if (known.size >= KNOWN_CELLS_MAX || knownChars >= KNOWN_CHARS_MAX) {
            known.clear();
            knownChars = 0;
          }
          known.set(cell, encoded[i]);
          knownChars += cell.length + encoded[i].length;
        }
      }
      let csv = '';
      for (let k = 0; k < grid.length; k += width) {
        let line = grid[k];
        for (let c = 1; c < width; c++) line += ',' + grid[k + c];
        csv += line + '\n';
      }
      return csv;
    },
  };
}

/** §6: RFC 4180 text, stored gzip. */
export const CSV: ExportFormat = {
  name: 'CSV',
  contentType: 'text/csv; charset=utf-8',
  extension: 'csv',
  storedCompression: 'gzip',
  bytesPerRecord: csvBytesPerRecord,
  writer(params, out) {
    const csv = csvWriter(params);
    return {
      columns: csv.columns,
      begin: () => out(csv.preamble()),
      rows: (rows) => out(csv.formatRows(rows)),
      end: async () => undefined,
    };
  },
};
