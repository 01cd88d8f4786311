import { ExportParams } from '../params';
import { CSV } from './csv';
import { ExportFormat, FormatName, PackagingName } from './format';
import { JSONL } from './jsonl';
import { PARQUET } from './parquet';
import { XLSX } from './xlsx';

const FORMATS: Record<FormatName, ExportFormat> = { CSV, JSONL, PARQUET, XLSX };

export function formatOf(params: Pick<ExportParams, 'format'>): ExportFormat {
  const format = FORMATS[params.format ?? 'CSV'];
  if (!format) throw new Error(`format ${params.format} is not supported`);
  return format;
}

export function packagingOf(params: Pick<ExportParams, 'packaging'>): PackagingName {
  return params.packaging ?? 'NONE';
}

/** What a stored file is: the data file as it is, gzip of it, or a ZIP holding it. */
export function storedAs(params: Pick<ExportParams, 'format' | 'packaging'>): 'gzip' | 'none' | 'zip' {
  return packagingOf(params) === 'ZIP' ? 'zip' : formatOf(params).storedCompression;
}
