import { PassThrough, Writable } from 'node:stream';
import yazl from 'yazl';
import { ExportParams } from '../params';
import { formatOf, packagingOf } from './index';

/**
 * `packaging: ZIP`: the data file as `events.<ext>` and a `manifest.json` after it. Entry times are the
 * export's requestedOn, never the clock. yazl streams the entry through and switches to ZIP64 by itself
 * once an entry or offset passes 4 GB.
 */
export class ZipPackage {
  private readonly zip = new yazl.ZipFile();

  constructor(file: Writable, onError: (err: Error) => void) {
    this.zip.outputStream.on('error', onError);
    this.zip.outputStream.pipe(file);
  }

  /** The writable the data file goes into; end it when the data file is complete. */
  beginEntry(name: string, requestedOn: number, compress: boolean): Writable {
    const entry = new PassThrough({ highWaterMark: 1024 * 1024 });
    this.zip.addReadStream(entry, name, { mtime: new Date(requestedOn), compress });
    return entry;
  }

  finish(manifest: string, requestedOn: number): void {
    this.zip.addBuffer(Buffer.from(manifest, 'utf8'), 'manifest.json', { mtime: new Date(requestedOn), compress: true });
    this.zip.end();
  }
}

/** The export's parameters as a user asked for them (the shape of CreateExportInput). */
export function requestOf(params: ExportParams) {
  return {
    dataRange: { datasets: params.datasetIds.map(String), metrics: params.metrics },
    timestampPrecision: params.timestampPrecision,
    fields: params.fields,
    filter: params.filter,
    from: params.from,
    to: params.to,
    limit: params.limit,
    header: params.header,
    timestampFormat: params.timestampFormat,
    timeZone: params.timeZone,
    excelSafe: params.excelSafe,
    format: formatOf(params).name,
    packaging: packagingOf(params),
  };
}

export function manifestOf(
  job: { exportId: string; params: ExportParams },
  row: { name: string | null; requestedOn: number },
  result: { completedOn: number; records: number; truncated: boolean; sha256: string; sizeInBytes: number },
) {
  return {
    id: job.exportId,
    name: row.name,
    format: formatOf(job.params).name,
    requestedOn: row.requestedOn,
    completedOn: result.completedOn,
    records: result.records,
    truncated: result.truncated,
    sha256: result.sha256,
    sizeInBytes: result.sizeInBytes,
    request: requestOf(job.params),
  };
}
