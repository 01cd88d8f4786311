import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Request, Response } from 'express';
import { DataExportEntity } from '../entities/data-export.entity';
import { OpenedFile } from '../exports/storage';
import { byteWindow, listedTags, noneMatch, parseRange, Representation, reprDigest } from './ranges';

/** How the stored file is encoded: the stored bytes are one representation, the decoded data the other. */
const STORED_ENCODING = 'gzip' as const;

function acceptsGzip(req: Request): boolean {
  const header = String(req.headers['accept-encoding'] ?? '');
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)).find(Boolean);
    return (coding.trim() === 'gzip' || coding.trim() === '*') && (!q || Number(q[1]) > 0);
  });
}

/** The client refuses the plain data (`identity;q=0`), so only the stored bytes will do. */
function refusesIdentity(req: Request): boolean {
  return /(^|,)\s*identity\s*;\s*q=0(\.0*)?\s*(,|$)/i.test(String(req.headers['accept-encoding'] ?? ''));
}

/** A gzip-stored file (CSV, JSON Lines) has two representations; any other file is one, sent as it is. */
export function representationsOf(row: DataExportEntity, storedSize: number, gzipStored: boolean): { stored: Representation; plain: Representation } {
  const sha = row.sha256 ?? `${row.id}-${row.completedOn}`;
  if (!gzipStored) {
    const asIs: Representation = { encoding: null, decode: false, size: storedSize, etag: row.compressedSha256 ? `"${row.compressedSha256}"` : `"${sha}-file"`, sha256: row.compressedSha256 };
    return { stored: asIs, plain: asIs };
  }
  return {
    stored: { encoding: STORED_ENCODING, decode: false, size: storedSize, etag: row.compressedSha256 ? `"${row.compressedSha256}"` : `"${sha}-gz"`, sha256: row.compressedSha256 },
    plain: { encoding: null, decode: true, size: row.sizeBytes, etag: `"${sha}"`, sha256: row.sha256 },
  };
}

/**
 * Which representation answers. Without Range: the stored gzip bytes when gzip is accepted, else the
 * plain data. With Range, offsets must count in the bytes the client already holds: an If-Range naming
 * one representation picks it; without one, the plain data, because a client that decoded on the fly
 * (curl -C - --compressed) counts its offset in decoded bytes — unless the client refuses identity.
 */
export function choose(req: Request, reps: { stored: Representation; plain: Representation }): Representation {
  const gzip = acceptsGzip(req);
  if (!req.headers.range) return gzip ? reps.stored : reps.plain;
  const ifRange = listedTags(req.headers['if-range'] as string | undefined)[0];
  if (ifRange === reps.stored.etag && gzip) return reps.stored;
  if (ifRange === reps.plain.etag) return reps.plain;
  if (ifRange !== undefined) return gzip ? reps.stored : reps.plain; // stale: 200 whole, below
  return gzip && refusesIdentity(req) ? reps.stored : reps.plain;
}

/**
 * Sends one representation with its validators: 304 for a matching If-None-Match, 206 for one
 * satisfiable range (unless a stale If-Range asks for the whole), 416 for an unsatisfiable one.
 * `file` is the opened stored file: its bytes are copied out as they are, or decoded on the way. `downloaded` hears of every body sent in full.
 */
export async function sendRepresentation(req: Request, res: Response, rep: Representation, file: Pick<OpenedFile, 'read' | 'copyTo'>, downloaded: (what: string) => void): Promise<void> {
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', rep.etag);
  if (rep.sha256) res.setHeader('Repr-Digest', reprDigest(rep.sha256));
  if (rep.encoding) res.setHeader('Content-Encoding', rep.encoding);
  if (noneMatch(req.headers['if-none-match'] as string | undefined, rep.etag)) {
    res.removeHeader('Content-Encoding');
    res.status(304).end();
    return;
  }
  const ifRange = req.headers['if-range'] as string | undefined;
  const rangeApplies = !ifRange || listedTags(ifRange)[0] === rep.etag;
  const range = rangeApplies ? parseRange(req.headers.range, rep.size) : ({ kind: 'whole' } as const);
  if (range.kind === 'unsatisfiable') {
    res.removeHeader('Content-Encoding');
    res.setHeader('Content-Range', `bytes */${rep.size}`);
    res.status(416).json({ error: { status: 416, message: `range ${req.headers.range} is outside the ${rep.size} bytes of this representation` } });
    return;
  }
  const start = range.kind === 'part' ? range.start : 0;
  const end = range.kind === 'part' ? range.end : rep.size - 1;
  res.setHeader('Content-Length', String(Math.max(0, end - start + 1)));
  if (range.kind === 'part') {
    res.setHeader('Content-Range', `bytes ${start}-${end}/${rep.size}`);
    res.status(206);
  } else res.status(200);
  if (req.method === 'HEAD' || rep.size === 0) {
    res.end();
    return;
  }
  if (!rep.decode) {
    await file.copyTo(res, { start, end });
  } else {
    await pipeline(file.read(), zlib.createGunzip(), byteWindow(start, end), res);
  }
  const kind = rep.encoding ? `${rep.encoding} (stored)` : rep.decode ? 'plain' : 'file';
  downloaded(range.kind === 'part' ? `${kind} bytes ${start}-${end} of ${rep.size}` : `${kind}, whole (${rep.size} bytes)`);
}
