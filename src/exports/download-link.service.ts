import crypto from 'node:crypto';
import { DataSource } from 'typeorm';
import { badRequest, ErrorCode, SluiceError } from '../errors';

const SECRET_NAME = 'download_link_secret';

/**
 * Signed, expiring download links. The signing key lives in the database, so every server sharing it
 * accepts links made by any other, with nothing to configure.
 */
export class DownloadLinkService {
  private key?: Buffer;

  constructor(
    private readonly ds: DataSource,
    private readonly ttlMs: number,
  ) {}

  private async secret(): Promise<Buffer> {
    if (this.key) return this.key;
    const read = async () => (await this.ds.query('SELECT value FROM setting WHERE name = ?', [SECRET_NAME]))[0]?.value as string | undefined;
    let value = await read();
    if (!value) {
      await this.ds.query('INSERT INTO setting (name, value) VALUES (?, ?)', [SECRET_NAME, crypto.randomBytes(32).toString('hex')]).catch(() => undefined);
      value = await read();
    }
    this.key = Buffer.from(value as string, 'hex');
    return this.key;
  }

  private sign(key: Buffer, exportId: string, expiresOn: number): string {
    return crypto.createHmac('sha256', key).update(`${exportId}.${expiresOn}`).digest('base64url');
  }

  /** A link that opens this export until `expiresOn` (default: DOWNLOAD_LINK_TTL from now). */
  async create(exportId: string, expiresOn = Date.now() + this.ttlMs): Promise<{ link: string; expiresOn: number }> {
    const token = `${expiresOn}.${this.sign(await this.secret(), exportId, expiresOn)}`;
    return { link: `/api/v3/data/exports/${encodeURIComponent(exportId)}?token=${token}`, expiresOn };
  }

  /**
   * A link for `validFor` seconds (default DOWNLOAD_LINK_TTL), which may last at most as long as the
   * file (`fileExpiresOn`); asking for longer is BAD_REQUEST naming the most it can be.
   */
  async createFor(exportId: string, fileExpiresOn: number | null, validFor?: number | null): Promise<{ link: string; expiresOn: number }> {
    if (validFor == null) return this.create(exportId, Math.min(Date.now() + this.ttlMs, fileExpiresOn ?? Infinity));
    if (!Number.isInteger(validFor) || validFor < 1) throw badRequest(`validFor must be a positive number of seconds, not ${validFor}`);
    const now = Date.now();
    const expiresOn = now + validFor * 1000;
    if (fileExpiresOn !== null && expiresOn > fileExpiresOn) {
      const most = Math.floor((fileExpiresOn - now) / 1000);
      throw badRequest(`validFor ${validFor} s would outlive the export, which expires at ${new Date(fileExpiresOn).toISOString()}: at most ${most} s`);
    }
    return this.create(exportId, expiresOn);
  }

  /** Throws UNAUTHENTICATED with the reason when the token does not open this export now. */
  async verify(exportId: string, token: string): Promise<void> {
    const m = /^(\d+)\.([A-Za-z0-9_-]+)$/.exec(token);
    if (!m) throw new SluiceError(ErrorCode.UNAUTHENTICATED, 'the download link token is malformed: ask for a new link with createDownloadLink');
    const expiresOn = Number(m[1]);
    const expected = Buffer.from(this.sign(await this.secret(), exportId, expiresOn));
    const given = Buffer.from(m[2]);
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      throw new SluiceError(ErrorCode.UNAUTHENTICATED, 'the download link is not valid for this export: ask for a new link with createDownloadLink');
    }
    if (Date.now() > expiresOn) {
      throw new SluiceError(ErrorCode.UNAUTHENTICATED, `the download link expired at ${new Date(expiresOn).toISOString()}: ask for a new link with createDownloadLink`);
    }
  }
}
