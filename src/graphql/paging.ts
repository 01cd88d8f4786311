import { badRequest } from '../errors';

export const DEFAULT_PAGE = 25;
export const MAX_PAGE = 1000;

/** Cursors are opaque to clients; inside they are an offset. */
export function pageWindow(cursor: string | null | undefined, limit: number | null | undefined): { offset: number; limit: number } {
  const size = limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) throw badRequest(`limit must be from 1 to ${MAX_PAGE}, not ${limit}`);
  if (!cursor) return { offset: 0, limit: size };
  const offset = Number(Buffer.from(cursor, 'base64url').toString());
  if (!Number.isSafeInteger(offset) || offset < 0) throw badRequest('cursor is not one this server gave out');
  return { offset, limit: size };
}

export function nextCursor(offset: number, limit: number, total: number): string | null {
  return offset + limit < total ? Buffer.from(String(offset + limit)).toString('base64url') : null;
}
