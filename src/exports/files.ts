import { formatOf, storedAs } from './formats';
import { ExportParams } from './params';

type Stored = Pick<ExportParams, 'format' | 'packaging'>;

/** How the stored file ends: `csv.gz`, `jsonl.gz`, `parquet`, `xlsx`, or `zip` for any format packed in a ZIP. */
export function storedExtension(params: Stored): string {
  const stored = storedAs(params);
  if (stored === 'zip') return 'zip';
  return stored === 'gzip' ? `${formatOf(params).extension}.gz` : formatOf(params).extension;
}

/** The name a user gets: `<name or id>.<ext>`, `.zip` when packed. */
export function downloadExtension(params: Stored): string {
  return storedAs(params) === 'zip' ? 'zip' : formatOf(params).extension;
}

/** Names inside EXPORTS_DIR. The attempt is in every name, so a stale worker never touches another attempt's file. */
export const tmpFilePrefix = (id: string) => `${id}.`;
export const tmpFileName = (id: string, attempt: number, params: Stored = {}) => `${id}.${attempt}.${storedExtension(params)}.tmp`;
export const exportFileName = (id: string, attempt: number, params: Stored = {}) => `${id}.${attempt}.${storedExtension(params)}`;
