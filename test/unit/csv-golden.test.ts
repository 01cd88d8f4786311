import fs from 'node:fs';
import path from 'node:path';
import { CSV } from '../../src/exports/formats/csv';
import { ExportParams } from '../../src/exports/params';

/**
 * The CSV writer moved behind the format seam unchanged: its bytes equal the files the writer on main
 * made from the same rows, before the move (test/fixtures/csv-golden/*.csv).
 */
const dir = path.join(__dirname, '../fixtures/csv-golden');
const input = JSON.parse(fs.readFileSync(path.join(dir, 'input.json'), 'utf8')) as {
  rows: Record<string, unknown>[];
  variants: Record<string, Partial<ExportParams>>;
};

describe('CSV bytes identical to the writer before the format seam', () => {
  test.each(Object.keys(input.variants))('%s', async (name) => {
    const params = { datasetIds: [3], metrics: null, filter: null, from: null, to: null, limit: null, maxRecords: 1000, ...input.variants[name] } as ExportParams;
    const chunks: Buffer[] = [];
    const writer = CSV.writer(params, async (chunk) => void chunks.push(Buffer.from(chunk)));
    const rows = input.rows.map((r) => writer.columns.map((c) => r[c]));
    await writer.begin();
    await writer.rows(rows.slice(0, 2));
    await writer.rows(rows.slice(2));
    await writer.end();
    expect(Buffer.concat(chunks).equals(fs.readFileSync(path.join(dir, `${name}.csv`)))).toBe(true);
  });
});
