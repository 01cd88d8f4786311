import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { StoredDigest } from './export-store';

/** Size and sha256 of a stream of stored bytes, hashed as they pass (memory stays flat whatever the size). */
export async function digestOf(bytes: Readable): Promise<StoredDigest> {
  const hash = crypto.createHash('sha256');
  let size = 0;
  for await (const chunk of bytes) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}
