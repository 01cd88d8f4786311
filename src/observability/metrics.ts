import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DataSource } from 'typeorm';
import { DataExportEntity, ExportStatus } from '../entities/data-export.entity';
import { logger } from '../logger';

/**
 * The process's Prometheus registry. Counters and histograms count what this process did (Prometheus
 * sums them over the fleet); the queue gauges are read from the database at scrape time, so every
 * process reports the same fleet-wide figures (take max(), not sum(), of those).
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const registers = [registry];
/** Export durations run from a second to hours. */
const EXPORT_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
const GRAPHQL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A scrape must answer even when the database does not: past this the queue gauges read NaN. */
const QUEUE_READ_BUDGET_MS = 2_000;

export const metrics = {
  exportsFinished: new Counter({ name: 'sluice_exports_finished_total', help: 'Exports that reached a final state in this process (COMPLETED, FAILED, CANCELLED)', labelNames: ['status', 'format'] as const, registers }),
  exportRecords: new Counter({ name: 'sluice_export_records_total', help: 'Records written by exports completed in this process', registers }),
  exportBytes: new Counter({ name: 'sluice_export_bytes_total', help: 'Bytes of export files completed in this process, as stored (gzip-compressed)', registers }),
  exportDuration: new Histogram({ name: 'sluice_export_duration_seconds', help: 'Generation time of completed exports, from claim to file in place', buckets: EXPORT_BUCKETS, registers }),
  downloads: new Counter({ name: 'sluice_downloads_total', help: 'Download requests answered, by HTTP status', labelNames: ['status'] as const, registers }),
  downloadBytes: new Counter({ name: 'sluice_download_bytes_total', help: 'File bytes sent by successful downloads (as sent: gzip-compressed when the client accepts it)', registers }),
  ingestEvents: new Counter({ name: 'sluice_ingest_events_total', help: 'Events stored by ingest requests', registers }),
  webhookDeliveries: new Counter({ name: 'sluice_webhook_deliveries_total', help: 'Webhook delivery attempts, by outcome', labelNames: ['outcome'] as const, registers }),
  graphqlOperations: new Counter({ name: 'sluice_graphql_operations_total', help: 'GraphQL operations, by type (query, mutation, subscription) and outcome (success, error)', labelNames: ['type', 'outcome'] as const, registers }),
  graphqlDuration: new Histogram({ name: 'sluice_graphql_duration_seconds', help: 'GraphQL query and mutation time, request to response (subscriptions, which last, are not in it)', buckets: GRAPHQL_BUCKETS, registers }),
};

for (const status of [ExportStatus.COMPLETED, ExportStatus.FAILED, ExportStatus.CANCELLED]) metrics.exportsFinished.inc({ status, format: 'CSV' }, 0);

/** The format label of an export from its stored parameters (CSV unless it says otherwise). */
export function formatOf(params: string | { format?: unknown }): string {
  try {
    const parsed = typeof params === 'string' ? (JSON.parse(params) as { format?: unknown }) : params;
    return typeof parsed.format === 'string' ? parsed.format : 'CSV';
  } catch {
    return 'CSV';
  }
}

/** One place for "this export ended": the finished counter, and for a completed one its size and time. */
export function countFinishedExport(status: ExportStatus, format: string, completed?: { records: number; bytes: number; seconds: number }): void {
  metrics.exportsFinished.inc({ status, format });
  if (!completed) return;
  metrics.exportRecords.inc(completed.records);
  metrics.exportBytes.inc(completed.bytes);
  metrics.exportDuration.observe(completed.seconds);
}

interface QueueFigures {
  generating: number;
  depth: number;
  oldestAgeSeconds: number;
}

let queueSource: DataSource | null = null;
let pendingRead: Promise<QueueFigures> | null = null;

/** Queue gauges read this store at scrape time; without a store (not yet open) they read NaN. */
export function readQueueFrom(ds: DataSource): void {
  queueSource = ds;
}

async function readQueue(ds: DataSource): Promise<QueueFigures> {
  const now = Date.now();
  const rows: { status: string; n: string | number; oldest: string | number | null }[] = await ds
    .getRepository(DataExportEntity)
    .createQueryBuilder('e')
    .select('e.status', 'status')
    .addSelect('COUNT(*)', 'n')
    .addSelect('MIN(e.requested_on)', 'oldest')
    .where('e.status = :q OR (e.status = :g AND e.lease_expires >= :now)', { q: ExportStatus.QUEUING, g: ExportStatus.GENERATING, now })
    .groupBy('e.status')
    .getRawMany();
  const queued = rows.find((r) => r.status === ExportStatus.QUEUING);
  const generating = rows.find((r) => r.status === ExportStatus.GENERATING);
  return {
    generating: Number(generating?.n ?? 0),
    depth: Number(queued?.n ?? 0),
    oldestAgeSeconds: queued?.oldest == null ? 0 : Math.max(0, (now - Number(queued.oldest)) / 1000),
  };
}

/** One database read per scrape for all three gauges, bounded in time. */
function queueFigures(): Promise<QueueFigures> {
  if (!queueSource) return Promise.resolve({ generating: NaN, depth: NaN, oldestAgeSeconds: NaN });
  if (pendingRead) return pendingRead;
  const ds = queueSource;
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${QUEUE_READ_BUDGET_MS} ms`)), QUEUE_READ_BUDGET_MS);
  });
  pendingRead = Promise.race([readQueue(ds), budget])
    .catch((err: Error) => {
      logger.warn({ err: err.message }, 'metrics: could not read the export queue; its gauges read NaN');
      return { generating: NaN, depth: NaN, oldestAgeSeconds: NaN };
    })
    .finally(() => {
      clearTimeout(timer);
      // The three gauges collect one after another within a scrape: they share this read, the next scrape reads again.
      setImmediate(() => (pendingRead = null));
    });
  return pendingRead;
}

new Gauge({
  name: 'sluice_exports_generating', help: 'Exports generating now across the fleet (from the database: a held lease)', registers,
  async collect() {
    this.set((await queueFigures()).generating);
  },
});
new Gauge({
  name: 'sluice_export_queue_depth', help: 'Exports waiting in the queue across the fleet (from the database)', registers,
  async collect() {
    this.set((await queueFigures()).depth);
  },
});
new Gauge({
  name: 'sluice_export_queue_oldest_age_seconds', help: 'How long the oldest queued export has waited (0: queue empty)', registers,
  async collect() {
    this.set((await queueFigures()).oldestAgeSeconds);
  },
});

/**
 * Counts a download when its response ends (aborted ones too), with the body bytes actually written:
 * one hook at the top of the route, whatever ranges or encodings the route then serves.
 */
export function countDownload(res: import('node:http').ServerResponse): void {
  let bytes = 0;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
  const add = (chunk: unknown) => {
    if (typeof chunk === 'string') bytes += Buffer.byteLength(chunk);
    else if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
  };
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    add(chunk);
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') add(chunk);
    return end(chunk, ...rest);
  }) as typeof res.end;
  res.once('close', () => {
    metrics.downloads.inc({ status: String(res.statusCode) });
    // Error bodies are not downloads.
    if (bytes && res.statusCode < 300) metrics.downloadBytes.inc(bytes);
  });
}
