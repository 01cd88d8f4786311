import crypto from 'node:crypto';

/** Opaque random tokens; only their SHA-256 is stored. */
export function newToken(): string {
  return `slc_${crypto.randomBytes(24).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}
