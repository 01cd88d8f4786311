import * as XLSX from 'xlsx';
import { xlsxWriter, xmlText } from '../../src/exports/formats/xlsx';
import { DEFAULT_FIELDS, ExportParams } from '../../src/exports/params';

const params: ExportParams = {
  datasetIds: [1], metrics: null, timestampPrecision: 'MILLISECONDS', fields: DEFAULT_FIELDS, filter: null, from: null, to: null, limit: null,
  header: true, timestampFormat: 'EPOCH', timeZone: 'UTC', excelSafe: false, maxRecords: 1000, format: 'XLSX',
};

async function workbook(p: ExportParams, rows: unknown[][], sheetRows: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const w = xlsxWriter(p, async (c) => void chunks.push(Buffer.from(c)), sheetRows);
  await w.begin();
  // batches that straddle the sheet boundary
  for (let i = 0; i < rows.length; i += 4) await w.rows(rows.slice(i, i + 4).map((r) => r));
  await w.end();
  return Buffer.concat(chunks);
}

// Columns of DEFAULT_FIELDS: ts, dataset_id, metric, source, value_text.
const row = (n: number) => [(1_700_000_000_000 + n) * 1000, 1, 'n::number', `s${n}`, String(n)];

describe('XLSX sheets', () => {
  test('past the sheet limit the rows continue on "events (2)", "events (3)", each with the header; none lost or repeated', async () => {
    // the real limit is 1 048 575 data rows; a limit of 3 shows the same split on a small file
    const file = await workbook(params, Array.from({ length: 10 }, (_, n) => row(n)), 3);
    const book = XLSX.read(file);
    expect(book.SheetNames).toEqual(['events', 'events (2)', 'events (3)', 'events (4)']);
    const all = book.SheetNames.flatMap((name) => {
      const rows = XLSX.utils.sheet_to_json<Record<string, unknown>>(book.Sheets[name]);
      expect(rows.length).toBeLessThanOrEqual(3);
      return rows;
    });
    expect(all.map((r) => r.value)).toEqual(Array.from({ length: 10 }, (_, n) => n));
    expect(all.map((r) => r.source)).toEqual(Array.from({ length: 10 }, (_, n) => `s${n}`));
  });

  test('exactly a full sheet makes no empty second sheet', async () => {
    const book = XLSX.read(await workbook(params, Array.from({ length: 3 }, (_, n) => row(n)), 3));
    expect(book.SheetNames).toEqual(['events']);
  });

  test('the same rows give the same bytes', async () => {
    const rows = Array.from({ length: 7 }, (_, n) => row(n));
    expect((await workbook(params, rows, 3)).equals(await workbook(params, rows, 3))).toBe(true);
  });

  test('text XML cannot hold is escaped, never dropped, and reads back as it was', async () => {
    expect(xmlText('a<b>&c')).toBe('a&lt;b&gt;&amp;c');
    expect(xmlText('bell\u0007')).toBe('bell_x0007_');
    expect(xmlText('_x0041_')).toBe('_x005F_x0041_');
    const book = XLSX.read(await workbook(params, [[0, 1, 'm::string', 'bell\u0007 <&>', ' =1+1 ']], 3));
    expect(book.Sheets.events.D2).toMatchObject({ t: 's', v: 'bell\u0007 <&>' });
    expect(book.Sheets.events.E2).toMatchObject({ t: 's', v: ' =1+1 ' });
    expect(book.Sheets.events.E2.f).toBeUndefined();
  });
});
