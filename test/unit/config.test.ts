import { ConfigError, describeSettings, loadConfig, parseDuration, parseSize } from '../../src/config';

describe('settings', () => {
  test('defaults match the spec', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 4000, databaseUrl: 'sqlite:./data/sluice.sqlite', exportWorkers: 1, exportConcurrency: 2, exportLeaseMs: 30_000,
      exportRetentionMs: 7 * 86_400_000, downloadLinkTtlMs: 120_000, ingestMaxBytes: 16 * 1024 * 1024, redisUrl: '', demo: true,
      maxDataExports: 5, maxDataExportRecords: 50_000_000,
    });
    expect(c.exportsDir).toMatch(/data\/exports$/);
  });

  test.each([
    ['PORT', 'eighty', /PORT="eighty" is not valid: expected a TCP port number/],
    ['EXPORT_LEASE', '30', /EXPORT_LEASE="30" is not valid: expected a duration/],
    ['DATABASE_URL', 'postgres://x', /DATABASE_URL=.*expected sqlite:<file> or mysql:\/\//],
    ['EXPORT_WORKERS', '3', /EXPORT_WORKERS="3" is not valid: expected 0 or 1/],
    ['INGEST_MAX_BYTES', 'lots', /INGEST_MAX_BYTES="lots"/],
    ['SLUICE_DEMO', 'maybe', /SLUICE_DEMO="maybe"/],
    ['REDIS_URL', 'localhost:6379', /REDIS_URL="localhost:6379" is not valid: expected redis:\/\//],
  ])('a bad %s names the variable and what it expects', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  test('durations and sizes', () => {
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseSize('10mb')).toBe(10_485_760);
    expect(parseSize('512kb')).toBe(524_288);
    expect(parseSize('100')).toBe(100);
  });

  test('help lists every variable with its default', () => {
    const help = describeSettings();
    for (const v of ['PORT', 'DATABASE_URL', 'EXPORTS_DIR', 'EXPORT_WORKERS', 'EXPORT_CONCURRENCY', 'EXPORT_LEASE', 'EXPORT_RETENTION', 'DOWNLOAD_LINK_TTL', 'INGEST_MAX_BYTES', 'REDIS_URL', 'SLUICE_DEMO']) {
      expect(help).toMatch(new RegExp(`^\\s+${v}\\s+\\S`, 'm'));
    }
    expect(help).toMatch(/EXPORT_LEASE\s+30s/);
  });
});
