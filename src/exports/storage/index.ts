import { ExportStore, StoreLocation } from './export-store';
import { LocalDirStore } from './local-dir';

export * from './export-store';

/** The store at a location; the one place that picks an implementation. */
export function openExportStore(location: StoreLocation): ExportStore {
  switch (location.kind) {
    case 'local-dir':
      return new LocalDirStore(location.dir);
  }
}

/** The store this server or worker is configured with (EXPORTS_DIR). */
export function exportStoreOf(config: { exportsDir: string }): ExportStore {
  return openExportStore({ kind: 'local-dir', dir: config.exportsDir });
}
