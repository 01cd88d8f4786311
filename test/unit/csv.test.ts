import { stringify } from 'csv-stringify/sync';
import { csvWriter, isoFormatter, neutraliseFormula } from '../../src/exports/formats/csv';
import { DEFAULT_FIELDS, ExportParams } from '../../src/exports/params';

const base: ExportParams = {
  datasetIds: [1], metrics: null, timestampPrecision: 'MILLISECONDS', fields: DEFAULT_FIELDS, filter: null, from: null, to: null, limit: null,
  header: true, timestampFormat: 'EPOCH', timeZone: 'UTC', excelSafe: false, maxRecords: 1000,
};

describe('CSV cells', () => {
  test('RFC 4180 quoting: comma, quote, LF and CR; empty cells for missing values', () => {
    const w = csvWriter(base);
    expect(w.columns).toEqual(['ts', 'dataset_id', 'metric', 'source', 'value_text']);
    expect(w.preamble()).toBe('timestamp,dataset,metric,source,value\n');
    const out = w.formatRows([
      [1_700_000_000_123_456, 3, 'm::string', null, 'a,b'],
      [1_700_000_000_123_456, 3, 'm::string', 'x', 'say "hi"\nthere\r'],
    ]);
    expect(out).toBe('1700000000123,3,m::string,,"a,b"\n1700000000123,3,m::string,x,"say ""hi""\nthere\r"\n');
  });

  test('precisions truncate towards the past', () => {
    const row = [[1_700_000_000_987_654, 1, 'm::number', 's', '1']];
    expect(csvWriter({ ...base, timestampPrecision: 'SECONDS', header: false }).formatRows(row)).toMatch(/^1700000000,/);
    expect(csvWriter({ ...base, timestampPrecision: 'MICROSECONDS', header: false }).formatRows(row)).toMatch(/^1700000000987654,/);
  });

  test('ISO 8601 in a zone, across a daylight-saving change, with as many fraction digits as the precision', () => {
    const paris = isoFormatter('MILLISECONDS', 'Europe/Paris');
    // 2024-03-31 01:59:59.999 UTC is 03:59:59.999+02:00 (summer time began at 01:00 UTC).
    expect(paris(Date.UTC(2024, 2, 31, 0, 59, 59, 999) * 1000)).toBe('2024-03-31T01:59:59.999+01:00');
    expect(paris(Date.UTC(2024, 2, 31, 1, 0, 0, 0) * 1000)).toBe('2024-03-31T03:00:00.000+02:00');
    expect(isoFormatter('MICROSECONDS', 'UTC')(1_700_000_000_123_456)).toBe('2023-11-14T22:13:20.123456Z');
    expect(isoFormatter('SECONDS', 'Asia/Kolkata')(1_700_000_000_999_999)).toBe('2023-11-15T03:43:20+05:30');
    expect(isoFormatter('SECONDS', 'America/New_York')(Date.UTC(2024, 10, 3, 6, 0, 0) * 1000)).toBe('2024-11-03T01:00:00-05:00');
  });

  test('excelSafe: BOM, formula-looking cells neutralised, plain numbers kept', () => {
    const w = csvWriter({ ...base, excelSafe: true });
    expect(w.preamble().startsWith('\uFEFF')).toBe(true);
    expect(neutraliseFormula('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(neutraliseFormula('+33 1 23')).toBe("'+33 1 23");
    expect(neutraliseFormula('@cmd')).toBe("'@cmd");
    expect(neutraliseFormula('\tx')).toBe("'\tx");
    expect(neutraliseFormula('-3.5')).toBe('-3.5');
    expect(neutraliseFormula('-1e21')).toBe('-1e21');
    expect(neutraliseFormula('-x')).toBe("'-x");
    expect(w.formatRows([[0, 1, 'm::string', '=cmd|x', '-2']])).toBe(`0,1,m::string,'=cmd|x,-2\n`);
  });

  test('JSON cells: producer, location, tags; columns never shift', () => {
    const w = csvWriter({ ...base, header: false, fields: ['producer', 'location', 'tags', 'elevation', 'geohash'] });
    expect(w.columns).toEqual(['producer_user_id', 'producer_client_id', 'lat', 'lng', 'tags', 'elevation', 'geohash']);
    expect(w.formatRows([['u', null, 1.5, -2, '["a"]', 12.5, 'u09']])).toBe('"{""userId"":""u"",""clientId"":null}","{""lat"":1.5,""lng"":-2}","[""a""]",12.5,u09\n');
    expect(w.formatRows([[null, null, null, null, null, null, null]])).toBe(',,,,\n');
  });

  test('remembered text cells: the same bytes as csv-stringify on each row, for repeated, new and awkward values', () => {
    // The long ones are past the length the writer remembers: encoded afresh each time, the same bytes.
    const awkward = ['', 'a', 'a,b', '"', '""', 'say "hi"', 'x\ny', 'x\r', '\r\n', ' lead', 'é€😀', ',', '"a,b"\r\n"', `${'"q",'.repeat(80)}end`, 'z'.repeat(300)];
    let seed = 7;
    const pick = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return awkward[seed % awkward.length] + (seed % 3 === 0 ? String(seed % 50) : '');
    };
    const w = csvWriter({ ...base, header: false });
    for (let batch = 0; batch < 5; batch++) {
      const rows = Array.from({ length: 400 }, (_, i) => [1_700_000_000_000_000 + i * 1000, 3, pick(), pick(), pick()]);
      const cells = rows.map((r) => [String(Math.floor((r[0] as number) / 1000)), String(r[1]), r[2], r[3], r[4]]);
      expect(w.formatRows(rows)).toBe(stringify(cells, { record_delimiter: '\n', quoted_match: /\r/ }));
    }
  });
});
