import { DataSource } from 'typeorm';
import { DatasetService } from '../catalog/dataset.service';
import { EventService } from '../catalog/event.service';
import { UserService } from '../catalog/user.service';
import { Config } from '../config';
import { UserEntity } from '../entities/user.entity';
import { ExportEvents } from '../exports/export-events';
import { ExportService } from '../exports/export.service';
import { DownloadLinkService } from '../exports/download-link.service';
import { ExportQueue } from '../exports/queue';
import { ExportWatch } from '../exports/export-watch';
import type { SocketSubscriptions } from './socket-limits';

/** Everything the server's request handlers need, built once at start. */
export interface Services {
  ds: DataSource;
  config: Config;
  users: UserService;
  datasets: DatasetService;
  events: EventService;
  exports: ExportService;
  exportEvents: ExportEvents;
  exportWatch: ExportWatch;
  queue: ExportQueue;
  downloadLinks: DownloadLinkService;
}

export interface Context {
  user: UserEntity;
  services: Services;
  /** Queue positions, read at most once per request. */
  queuePositions?: Promise<Map<string, number>>;
  /** On a WebSocket: the socket's subscriptions, so each one is counted until it has really ended. */
  socket?: SocketSubscriptions;
  /** usageRemaining, counted at most once per request however many aliases ask for it. */
  usageRemaining?: Promise<unknown>;
  /** What the caller may read, by dataset id, looked up at most once per dataset per request. */
  readable?: Map<number, Promise<boolean>>;
}

export function bearerToken(header: string | undefined | null): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1] : null;
}
