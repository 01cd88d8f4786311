import { isUtf8 } from 'node:buffer';
import { EventRow, ROW } from '../events/event-schema';
import { EventRuleError, eventToRow, InputPrecision } from './events';

/** What is wrong with an ingest body, in words for the sender (a 400). */
export class IngestError extends Error {}

/** Byte offset of the first byte that is not part of valid UTF-8, or -1. */
export function firstInvalidUtf8(buf: Uint8Array): number {
  for (let i = 0; i < buf.length; ) {
    const b = buf[i];
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    if (need === 2 && ((b === 0xe0 && buf[i + 1] < 0xa0) || (b === 0xed && buf[i + 1] > 0x9f))) return i; // overlong, surrogate
    if (need === 3 && ((b === 0xf0 && buf[i + 1] < 0x90) || (b === 0xf4 && buf[i + 1] > 0x8f))) return i; // overlong, > U+10FFFF
    i += need + 1;
  }
  return -1;
}

/** Which element of a top-level JSON array the byte at `offset` lies in (-1 if before the array). */
export function arrayIndexAt(buf: Uint8Array, offset: number): number {
  let depth = 0;
  let index = -1;
  let inString = false;
  for (let i = 0; i < offset && i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth === 1 && c === 0x5b) index = 0;
    } else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x2c && depth === 1) index++;
  }
  return index;
}

/** The body as text, refusing invalid UTF-8 (a decoder would silently turn it into U+FFFD). */
function decode(buf: Uint8Array): string {
  if (isUtf8(buf)) return Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString('utf8');
  const at = firstInvalidUtf8(buf);
  const index = arrayIndexAt(buf, at);
  const where = index >= 0 ? `event ${index}: ` : '';
  throw new IngestError(`${where}the body is not valid UTF-8 (byte ${at}): send text encoded as UTF-8`);
}

/**
 * Turns an ingest body into checked rows: UTF-8, JSON, an array, every event by the rules (the first bad
 * one named by index). Two events with one identity: the later wins, in the earlier one's place.
 */
export function prepareIngest(buf: Uint8Array, datasetId: number, precision: InputPrecision, receivedMicros: number): EventRow[] {
  const text = decode(buf);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new IngestError('the body is not valid JSON: send a JSON array of events');
  }
  if (!Array.isArray(body)) throw new IngestError('the body must be a JSON array of events');
  const rows: EventRow[] = new Array(body.length);
  for (let i = 0; i < body.length; i++) {
    try {
      rows[i] = eventToRow(body[i], datasetId, precision, receivedMicros);
    } catch (err) {
      if (err instanceof EventRuleError) throw new IngestError(`event ${i}: ${err.message}`);
      throw err;
    }
  }
  return lastOfEachIdentity(rows);
}

export function lastOfEachIdentity(rows: EventRow[]): EventRow[] {
  const at = new Map<string, number>();
  let repeated = false;
  rows.forEach((row, i) => {
    const key = row[ROW.identity].toString('hex');
    if (at.has(key)) {
      rows[at.get(key)!] = row;
      repeated = true;
    } else at.set(key, i);
  });
  if (!repeated) return rows;
  const keep = new Set(at.values());
  return rows.filter((_, i) => keep.has(i));
}
