import { Transform, TransformCallback } from 'node:stream';

/** One representation of an export's file as HTTP sees it (RFC 9110 §3.2). */
export interface Representation {
  /** `gzip` for the stored bytes sent as they are; null for the plain data decoded on the fly. */
  encoding: 'gzip' | null;
  /** The stored gzip bytes are decoded on the way out (the plain data of a gzip-stored file). */
  decode: boolean;
  size: number;
  /** Strong and different for each representation. */
  etag: string;
  /** sha256 of the whole representation, hex; null when not known (files stored before it was kept). */
  sha256: string | null;
}

export type RangeAnswer = { kind: 'whole' } | { kind: 'part'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * One `bytes=` range against a size. Several ranges, or a header that is not a byte range, get the
 * whole representation (RFC 9110 allows ignoring Range); a range that starts past the end is 416.
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (!header) return { kind: 'whole' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'whole' };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'part', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return { kind: 'whole' }; // not a valid range: ignored
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'part', start, end };
}

/** The entity tags listed in If-None-Match / If-Range (`*` kept as is). */
export function listedTags(header: string | undefined): string[] {
  if (!header) return [];
  if (header.trim() === '*') return ['*'];
  return header.match(/(W\/)?"[^"]*"/g) ?? [];
}

/** If-None-Match uses the weak comparison: a W/ prefix does not matter. */
export function noneMatch(header: string | undefined, etag: string): boolean {
  return listedTags(header).some((t) => t === '*' || t.replace(/^W\//, '') === etag);
}

/** `Repr-Digest` (RFC 9530) of a whole representation from its hex sha256. */
export function reprDigest(sha256Hex: string): string {
  return `sha-256=:${Buffer.from(sha256Hex, 'hex').toString('base64')}:`;
}

/** Passes bytes [start, end] of what flows through, and ends the stream once past `end`. */
export function byteWindow(start: number, end: number): Transform {
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      const from = Math.max(0, start - offset);
      const to = Math.min(chunk.length, end + 1 - offset);
      offset += chunk.length;
      if (to > from) this.push(from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to));
      cb();
    },
  });
}
