import { missingKeys } from '../../bench/check-results';

const format = { rowsPerSec: 1, ratioVsCsv: 0.5, peakRssMb1M: 100, peakRssMb5M: 101, bytes: 10 };
const complete = {
  commit: 'abc1234', exportRatio: 0.9, sqliteExportRatio: 0.8, downloadRatio: 0.95, nginxMBps: 900, peakRssMb1M: 150, peakRssMb5M: 155, p99MsBusy: 12,
  parquetVsDuckdbRatio: 1.1, formats: { JSONL: format, PARQUET: format, XLSX: format },
};

describe('bench results check', () => {
  test('a complete latest.json passes', () => {
    expect(missingKeys(complete)).toEqual([]);
  });

  test('names every missing or non-numeric figure, formats included', () => {
    const { nginxMBps: _gone, ...withoutNginx } = complete;
    const broken = { ...withoutNginx, commit: '', downloadRatio: null, formats: { JSONL: format, PARQUET: { ...format, bytes: 'many' } } };
    expect(missingKeys(broken)).toEqual([
      'commit: missing',
      'downloadRatio: not a number (null)',
      'nginxMBps: missing',
      'formats.PARQUET.bytes: not a number ("many")',
      ...['rowsPerSec', 'ratioVsCsv', 'peakRssMb1M', 'peakRssMb5M', 'bytes'].map((k) => `formats.XLSX.${k}: missing`),
    ]);
  });
});
