import { ExportParams } from '../params';
import { isoFormatter } from './csv';
import { ColumnPlan, epochIn, FIELD_COLUMNS, valueKind } from './columns';
import { csvBytesPerRecord } from './field-bytes';
import { ExportFormat, Row } from './format';

type Part = (row: Row) => string;

const json = (v: unknown) => (v === null || v === undefined ? 'null' : JSON.stringify(v));
const numberOrNull = (v: unknown) => (v === null || v === undefined ? 'null' : String(Number(v)));

/**
 * The stored value text is already JSON for numbers, number arrays, booleans and json values (ingest keeps
 * numbers in shortest round-trip form and json as compact JSON), so it goes out as it is; only strings
 * need quoting.
 */
function valuePart(valueAt: number, metricAt: number): Part {
  return (r) => {
    const v = r[valueAt];
    if (v === null || v === undefined) return 'null';
    return valueKind(String(r[metricAt])) === 'string' ? JSON.stringify(v) : String(v);
  };
}

/** One line per record: the fields in order as keys, each value in its JSON type. */
export function jsonlLines(params: ExportParams): { columns: string[]; lines(rows: Row[]): string } {
  const plan = new ColumnPlan();
  const time = (column: string): Part => {
    const i = plan.indexOf(column);
    if (params.timestampFormat === 'ISO8601') {
      const iso = isoFormatter(params.timestampPrecision, params.timeZone);
      return (r) => (r[i] === null ? 'null' : `"${iso(Number(r[i]))}"`);
    }
    const epoch = epochIn(params.timestampPrecision);
    return (r) => (r[i] === null ? 'null' : String(epoch(Number(r[i]))));
  };
  const parts: Part[] = params.fields.map((field) => {
    switch (field) {
      case 'timestamp':
        return time('ts');
      case 'tsReceived':
        return time('ts_received');
      case 'value':
        return valuePart(plan.indexOf('value_text'), plan.indexOf('metric'));
      case 'dataset': {
        const i = plan.indexOf('dataset_id');
        return (r) => (r[i] === null ? 'null' : `"${r[i]}"`);
      }
      case 'tags': {
        const i = plan.indexOf('tags');
        return (r) => (r[i] === null || r[i] === undefined ? 'null' : String(r[i]));
      }
      case 'location': {
        const [lat, lng] = FIELD_COLUMNS.location.map((c) => plan.indexOf(c));
        return (r) => (r[lat] === null || r[lng] === null ? 'null' : `{"lat":${Number(r[lat])},"lng":${Number(r[lng])}}`);
      }
      case 'producer': {
        const [u, c] = FIELD_COLUMNS.producer.map((col) => plan.indexOf(col));
        return (r) => (r[u] === null && r[c] === null ? 'null' : `{"userId":${json(r[u])},"clientId":${json(r[c])}}`);
      }
      case 'elevation': {
        const i = plan.indexOf('elevation');
        return (r) => numberOrNull(r[i]);
      }
      default: {
        const i = plan.indexOf(FIELD_COLUMNS[field][0]);
        return (r) => json(r[i]);
      }
    }
  });
  const keys = params.fields.map((f, n) => `${n ? ',' : '{'}${JSON.stringify(f)}:`);
  return {
    columns: plan.columns,
    lines(rows) {
      let out = '';
      for (const r of rows) {
        for (let p = 0; p < parts.length; p++) out += keys[p] + parts[p](r);
        out += '}\n';
      }
      return out;
    },
  };
}

/** JSON Lines: UTF-8, LF, stored gzip. */
export const JSONL: ExportFormat = {
  name: 'JSONL',
  contentType: 'application/x-ndjson',
  extension: 'jsonl',
  storedCompression: 'gzip',
  // the CSV's cells plus each key, its quotes and colon, and the braces
  bytesPerRecord: (params) => csvBytesPerRecord(params) + params.fields.reduce((sum, f) => sum + f.length + 4, 2),
  writer(params, out) {
    const jsonl = jsonlLines(params);
    return {
      columns: jsonl.columns,
      begin: async () => undefined,
      rows: (rows) => out(jsonl.lines(rows)),
      end: async () => undefined,
    };
  },
};
