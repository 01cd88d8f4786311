import { ExportParams } from '../params';

/** One row as the export query returns it, columns in the order the writer asked for. */
export type Row = unknown[];

export type FormatName = 'CSV' | 'JSONL' | 'PARQUET' | 'XLSX';
export const FORMAT_NAMES: FormatName[] = ['CSV', 'JSONL', 'PARQUET', 'XLSX'];
export type PackagingName = 'NONE' | 'ZIP';

/**
 * Where a writer puts its bytes. The runner hashes and counts what passes through (that is the data file
 * a user holds) and resolves once the bytes may be written again, so a writer that awaits it stays
 * within bounded memory.
 */
export type Output = (chunk: Buffer | string) => Promise<void>;

/** Writes one export's data file as the rows stream by. */
export interface FormatWriter {
  /** Event columns to SELECT, in the order `rows` reads them. */
  readonly columns: string[];
  /** Whatever comes before the first row (header, BOM, file magic). */
  begin(): Promise<void>;
  /** One batch of rows, in export order. */
  rows(rows: Row[]): Promise<void>;
  /** Whatever comes after the last row (footer, metadata); nothing may be written after it. */
  end(): Promise<void>;
}

/** Everything the pipeline needs to know about one file format; adding a format is one of these. */
export interface ExportFormat {
  readonly name: FormatName;
  /** The download's Content-Type. */
  readonly contentType: string;
  /** File extension without the dot: `<name>.<extension>`, and `events.<extension>` inside a ZIP. */
  readonly extension: string;
  /**
   * How the file is kept in EXPORTS_DIR: text formats gzip (and are served gzip or plain), formats that
   * compress themselves are kept as they are.
   */
  readonly storedCompression: 'gzip' | 'none';
  /** Rough bytes of one record in this format, for `estimateExport`: a guide, not a promise. */
  bytesPerRecord(params: ExportParams): number;
  writer(params: ExportParams, out: Output): FormatWriter;
}
