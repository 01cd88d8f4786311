import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { DataSource, EntityManager } from 'typeorm';
import { Config } from '../../config';
import { DataExportEntity, ExportStatus } from '../../entities/data-export.entity';
import { OutboxMessageEntity } from '../../entities/outbox-message.entity';
import { UserEntity } from '../../entities/user.entity';
import { badRequest } from '../../errors';
import { DownloadLinkService } from '../download-link.service';
import { ExportStore, exportStoreOf } from '../storage';
import { ExportEventType, ExportHistory } from './history';
import { OutboxHandler, SendOutcome } from './outbox';

/** Each SMTP step (connect, greeting, each reply) may take this long; a send that hangs is a failed attempt. */
const SMTP_STEP_TIMEOUT_MS = 20_000;

export interface NotifyRequest {
  email?: boolean | null;
}

/** Asking for e-mail on a server that cannot send any is the caller's to fix, or the operator's. */
export function checkNotify(config: Config, notify: NotifyRequest | null | undefined): void {
  if (notify?.email && !config.smtpUrl) throw badRequest('e-mail is not configured on this server (SMTP_URL)');
}

/** The name a user's file goes by: CSV and JSON Lines stay gzip as stored, the others are as they are. */
export function attachmentName(row: DataExportEntity): string {
  const params = JSON.parse(row.params) as { format?: string; packaging?: string };
  const base = (row.name ?? row.id).replace(/[\\/:*?"<>|\r\n]+/g, '_').trim() || row.id;
  if (params.packaging === 'ZIP') return `${base}.zip`;
  const ext = ({ JSONL: 'jsonl', PARQUET: 'parquet', XLSX: 'xlsx' } as Record<string, string>)[params.format ?? 'CSV'] ?? 'csv';
  return ext === 'csv' || ext === 'jsonl' ? `${base}.${ext}.gz` : `${base}.${ext}`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]} (${bytes} bytes)`;
}

/** Sends the e-mail of one finished export; the outbox calls it on every attempt. */
export class Mailer implements OutboxHandler {
  readonly leaseMs = SMTP_STEP_TIMEOUT_MS * 6;
  private transport?: Transporter;
  /** Where attached files are read from. */
  private readonly store: ExportStore;

  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
    private readonly history: ExportHistory,
    private readonly links: DownloadLinkService,
  ) {
    this.store = exportStoreOf(config);
  }

  private transporter(): Transporter {
    this.transport ??= nodemailer.createTransport(this.config.smtpUrl, {
      connectionTimeout: SMTP_STEP_TIMEOUT_MS, greetingTimeout: SMTP_STEP_TIMEOUT_MS, socketTimeout: SMTP_STEP_TIMEOUT_MS, from: this.config.mailFrom,
    } as never);
    return this.transport;
  }

  private baseUrl(): string {
    return this.config.publicUrl || `http://localhost:${this.config.port}`;
  }

  async send(msg: OutboxMessageEntity): Promise<SendOutcome> {
    if (!this.config.smtpUrl) return { ok: false, error: 'e-mail is not configured on this server (SMTP_URL)' };
    const row = await this.ds.getRepository(DataExportEntity).findOneBy({ id: msg.exportId });
    if (!row) return { ok: false, final: true, error: 'the export was removed' };
    const user = await this.ds.getRepository(UserEntity).findOneBy({ id: row.userId });
    if (!user) return { ok: false, final: true, error: 'the user is gone' };
    const title = row.name ? `"${row.name}"` : row.id;
    const lines = [`Your export ${title} is ${row.status}.`, ''];
    if (row.message) lines.push(row.status === ExportStatus.COMPLETED ? `Note: ${row.message}` : `Why: ${row.message}`, '');
    const attachments: { filename: string; content: Readable; contentType: string }[] = [];
    const key = row.fileName;
    const onFile = row.status === ExportStatus.COMPLETED && key && row.expiresOn && row.expiresOn > Date.now() ? await this.store.stat(key) : null;
    if (key && onFile) {
      const { link } = await this.links.create(row.id, row.expiresOn as number);
      lines.push(
        `Records: ${row.recordsProcessed}${row.truncated ? ' (truncated at the record limit)' : ''}`,
        `Size: ${size(row.sizeBytes)}`,
        `SHA-256: ${row.sha256}`,
        '',
        `Download (valid until ${new Date(row.expiresOn as number).toISOString()}):`,
        `${this.baseUrl()}${link}`,
      );
      const storedSize = row.compressedSize ?? onFile.size;
      if (storedSize <= this.config.mailAttachmentMax) {
        const name = attachmentName(row);
        attachments.push({ filename: name, content: this.store.read(key), contentType: name.endsWith('.gz') ? 'application/gzip' : 'application/octet-stream' });
        lines.push('', `The file is attached as ${name}.`);
      } else lines.push('', `The file (${size(storedSize)}) is larger than this server attaches (MAIL_ATTACHMENT_MAX): use the link.`);
    } else if (row.status === ExportStatus.COMPLETED) {
      lines.push('Its file is no longer available: export again.');
    }
    try {
      const info = await this.transporter().sendMail({
        from: this.config.mailFrom, to: user.email, subject: `Sluice export ${title} ${row.status}`, text: `${lines.join('\n')}\n`, attachments,
        headers: { 'X-Sluice-Export': row.id, 'X-Sluice-Message': msg.id },
      });
      return { ok: true, status: Number(/^(\d{3})/.exec(String(info.response))?.[1] ?? 250) };
    } catch (err) {
      const e = err as Error & { responseCode?: number; code?: string };
      return { ok: false, status: e.responseCode ?? null, error: `${e.code ? `${e.code}: ` : ''}${e.message}` };
    }
  }

  async settled(m: EntityManager, msg: OutboxMessageEntity, outcome: SendOutcome, next: { attempt: number; retryOn: number | null }): Promise<void> {
    const to = (JSON.parse(msg.payload) as { to?: string }).to ?? 'the owner';
    if (outcome.ok) {
      await this.history.record(msg.exportId, ExportEventType.EMAILED, `to ${to} on attempt ${next.attempt}`, m);
      return;
    }
    const then = next.retryOn ? `; next attempt at ${new Date(next.retryOn).toISOString()}` : '; given up';
    await this.history.record(msg.exportId, ExportEventType.EMAIL_FAILED, `to ${to}: attempt ${next.attempt} failed: ${outcome.error ?? outcome.status}${then}`, m);
  }
}
