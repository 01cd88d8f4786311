/** Names inside EXPORTS_DIR. The attempt is in every name, so a stale worker never touches another attempt's file. */
export const tmpFilePrefix = (id: string) => `${id}.`;
export const tmpFileName = (id: string, attempt: number) => `${id}.${attempt}.csv.gz.tmp`;
export const exportFileName = (id: string, attempt: number) => `${id}.${attempt}.csv.gz`;
