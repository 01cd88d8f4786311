import { DataSource } from 'typeorm';
import { DatasetService } from './catalog/dataset.service';
import { EventService } from './catalog/event.service';
import { UserService } from './catalog/user.service';
import { Config } from './config';
import { openDatabase } from './db/data-source';
import { DownloadLinkService } from './exports/download-link.service';
import { ExportEvents } from './exports/export-events';
import { ExportWatch } from './exports/export-watch';
import { ExportService } from './exports/export.service';
import { registerSqliteFunctions } from './exports/filter';
import { ExportQueue } from './exports/queue';
import { Services } from './graphql/context';

/** Opens the store (running migrations) and wires the services: the same for server, worker and CLI. */
export async function createServices(config: Config): Promise<Services> {
  const ds = await openDatabase(config.databaseUrl);
  return wireServices(ds, config);
}

export function wireServices(ds: DataSource, config: Config): Services {
  if (ds.options.type === 'better-sqlite3') {
    registerSqliteFunctions((ds.driver as unknown as { databaseConnection: import('better-sqlite3').Database }).databaseConnection);
  }
  const users = new UserService(ds);
  const datasets = new DatasetService(ds);
  const exportEvents = new ExportEvents();
  return {
    ds,
    config,
    users,
    datasets,
    events: new EventService(ds, datasets),
    exports: new ExportService(ds, config, datasets, exportEvents),
    exportEvents,
    exportWatch: new ExportWatch(ds, exportEvents),
    queue: new ExportQueue(ds),
    downloadLinks: new DownloadLinkService(ds, config.downloadLinkTtlMs),
  };
}
