/**
 * Filter expressions (SPEC §8): filter JSON -> parameterised SQL over the `event` table, for SQLite and for
 * MySQL/MariaDB, plus `evaluateFilter`, an in-memory evaluator with the same meaning that tests hold both
 * stores to. One parser validates the JSON into a small tree; the SQL compiler and the evaluator both walk it.
 *
 * Meaning, chosen so that SQLite, MariaDB and the evaluator agree:
 * - Conditions are two-valued. A missing field never satisfies a comparison, _startsWith, _regex, tag or
 *   location operator; only `_exists: false` selects it. `_not` is plain negation, so
 *   `{"_not": {"source": {"_eq": "a"}}}` also selects events without a source.
 * - `value` is typed by the metric's `::type` suffix: a number operand matches `::number` metrics, a string
 *   `::string`, a boolean `::bool`. `value->a->b` walks object keys of `::json` values and compares only
 *   a JSON value of the operand's type there (`_exists` there means present and not JSON null); `value->N`
 *   is also element N of a `::number[]` value. A `metric` operand may name the type `boolean` for `bool`.
 * - Strings compare exactly (case and trailing spaces count) and order by code point.
 * - `timestamp` and `tsReceived` operands are epoch milliseconds (fractions allowed) against µs columns.
 * - `_regex` is JavaScript syntax with the `u` and `s` flags (`.` matches newlines too), limited to what RE2
 *   runs (no look-around, no back-references), run on SQLite through `sluice_regexp` (RE2,
 *   registerSqliteFunctions) and on MariaDB as PCRE2 behind a step limit, rewritten where the two read the
 *   same text differently (see pcrePattern and regex.ts). Left to users: Unicode property names PCRE2 does
 *   not know.
 * - Size is bounded before anything is compiled (filter-limits.ts, SPEC §8).
 */
import type { Database } from 'better-sqlite3';
import { canonicalSelector } from '../events/event-schema';
import { checkFilterSize, checkSqlParams } from './filter-limits';
import { boundedRegex, limitedPcre, RegexError } from './regex';

export type Dialect = 'sqlite' | 'mysql';

/** A problem in the user's filter; the message is shown to users as it is. */
export class FilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

export interface CompiledFilter {
  sql: string;
  params: unknown[];
}

export interface FilterOptions {
  /** Public dataset id -> `event.dataset_id`; without it (or for ids not in it) numeric ids are used as is. */
  datasetIds?: Map<string, number>;
}

export interface PlainEvent {
  datasetId: number;
  ts: number; // µs
  metric: string;
  value: number | string | boolean | object | unknown[] | null;
  source: string | null;
  tags: string[] | null;
  location: { lat: number; lng: number } | null;
  geohash: string | null;
  elevation: number | null;
  producer: { userId?: string | null; clientId?: string | null } | null;
  tsReceived: number; // µs
}

const EARTH_RADIUS_M = 6371008.8;
const MAX_DEPTH = 32;
const MAX_ITEMS = 1000; // bounds the SQL a polygon can produce (lists: filter-limits.ts)
const RAD = Math.PI / 180;
const HALF_RAD = Math.PI / 360;

// ---------------------------------------------------------------------------------------------------------
// The parsed tree

type Kind = 'number' | 'string' | 'boolean';
/** A typed operand; booleans are 1/0, as value_num stores them, so one comparison path serves all kinds. */
interface Operand {
  kind: Kind;
  v: number | string;
}
type CmpOp = '=' | '<>' | '>' | '>=' | '<' | '<=';

interface ColumnField {
  column: string;
  kind: 'number' | 'string';
  get(e: PlainEvent): number | string | null | undefined;
  ms?: boolean; // operands in ms, column in µs
  dataset?: boolean; // operands are dataset ids
}

type Target =
  | { t: 'column'; name: string; f: ColumnField }
  | { t: 'value' }
  | { t: 'json'; keys: string[] }
  | { t: 'tags' }
  | { t: 'location' }
  | { t: 'producer' };

interface Edge {
  yMin: number;
  yMax: number;
  slope: number;
  y0: number;
  x0: number;
}

type Node =
  | { t: 'and' | 'or'; items: Node[] }
  | { t: 'not'; item: Node }
  | { t: 'cmp'; target: Target; op: CmpOp; arg: Operand }
  | { t: 'in'; target: Target; args: Operand[] }
  | { t: 'startsWith'; target: Target; prefix: string }
  | { t: 'regex'; target: Target; pattern: string; ci: boolean }
  | { t: 'exists'; target: Target; want: boolean }
  | { t: 'tags'; tags: string[] }
  // hMax: the haversine term's bound, sin²(radius / 2R); null when the circle covers the whole globe.
  | { t: 'circle'; lat: number; lng: number; cosLat: number; hMax: number | null }
  | { t: 'polygon'; edges: Edge[] };

const COLUMNS = new Map<string, ColumnField>([
  ['timestamp', { column: 'ts', kind: 'number', ms: true, get: (e) => e.ts }],
  ['tsReceived', { column: 'ts_received', kind: 'number', ms: true, get: (e) => e.tsReceived }],
  ['dataset', { column: 'dataset_id', kind: 'number', dataset: true, get: (e) => e.datasetId }],
  ['elevation', { column: 'elevation', kind: 'number', get: (e) => e.elevation }],
  ['location->lat', { column: 'lat', kind: 'number', get: (e) => e.location?.lat }],
  ['location->lng', { column: 'lng', kind: 'number', get: (e) => e.location?.lng }],
  ['metric', { column: 'metric', kind: 'string', get: (e) => e.metric }],
  ['source', { column: 'source', kind: 'string', get: (e) => e.source }],
  ['geohash', { column: 'geohash', kind: 'string', get: (e) => e.geohash }],
  ['producer->userId', { column: 'producer_user_id', kind: 'string', get: (e) => e.producer?.userId }],
  ['producer->clientId', { column: 'producer_client_id', kind: 'string', get: (e) => e.producer?.clientId }],
]);
const WHOLE_FIELDS = ['value', 'tags', 'location', 'producer'] as const;
const KNOWN_FIELDS =
  'timestamp, dataset, metric, producer, source, value, tags, location, geohash, elevation, tsReceived, ' +
  'producer->userId, producer->clientId, location->lat, location->lng, value->key->…, value->N';

const CMP: Record<string, CmpOp> = { _eq: '=', _neq: '<>', _gt: '>', _gte: '>=', _lt: '<', _lte: '<=' };
const SCALAR_OPS = ['_eq', '_neq', '_gt', '_gte', '_lt', '_lte', '_in', '_exists'];
const TEXT_OPS = [...SCALAR_OPS, '_startsWith', '_regex', '_options'];
const ALL_OPS = [...TEXT_OPS, '_withTag', '_withAnyTag', '_locationInCircle', '_locationInPolygon'];

function opsFor(target: Target): string[] {
  switch (target.t) {
    case 'column':
      if (target.f.dataset) return ['_eq', '_neq', '_in', '_exists'];
      return target.f.kind === 'string' ? TEXT_OPS : SCALAR_OPS;
    case 'value':
    case 'json':
      return TEXT_OPS;
    case 'tags':
      return ['_withTag', '_withAnyTag', '_exists'];
    case 'location':
      return ['_locationInCircle', '_locationInPolygon', '_exists'];
    case 'producer':
      return ['_exists'];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Parsing and validation (shared by the compiler and the evaluator)

function fail(message: string): never {
  throw new FilterError(message);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** ms -> µs through the decimal text, so 1700000000000.123 becomes exactly 1700000000000123. */
function msToMicros(ms: number): number {
  const text = String(ms);
  return text.includes('e') ? ms * 1000 : Number(`${text}e3`);
}

function parse(filter: unknown, opts: FilterOptions, where: string, depth: number): Node {
  if (!isObject(filter)) fail(`filter: ${where} must be an object like {"source": {"_eq": "x"}}, got ${show(filter)}`);
  if (depth > MAX_DEPTH) fail(`filter: nested more than ${MAX_DEPTH} levels deep`);
  const items: Node[] = [];
  for (const [key, v] of Object.entries(filter)) {
    if (key === '_and' || key === '_or') {
      if (!Array.isArray(v)) fail(`filter: ${key} expects an array of filters, got ${show(v)}`);
      items.push({ t: key === '_and' ? 'and' : 'or', items: v.map((x, i) => parse(x, opts, `${key}[${i}]`, depth + 1)) });
    } else if (key === '_not') {
      items.push({ t: 'not', item: parse(v, opts, '_not', depth + 1) });
    } else if (ALL_OPS.includes(key)) {
      fail(`filter: operator ${key} must sit inside a field, e.g. {"source": {"${key}": …}}`);
    } else {
      items.push(...parseField(key, v, opts));
    }
  }
  return items.length === 1 ? items[0] : { t: 'and', items };
}

function resolveField(name: string): Target {
  const parts = name.split('->').map((p) => p.trim());
  const path = parts.join('->');
  const column = COLUMNS.get(path);
  if (column) return { t: 'column', name: path, f: column };
  const head = parts[0];
  if (parts.length === 1 && (WHOLE_FIELDS as readonly string[]).includes(head)) {
    return { t: head as (typeof WHOLE_FIELDS)[number] };
  }
  if (head === 'value') {
    const keys = parts.slice(1);
    for (const key of keys) {
      // Keys end up in a JSON path; keeping them to this alphabet means no quoting questions on either store.
      if (!/^[A-Za-z0-9_]+$/.test(key)) fail(`filter: field "${name}": key "${key}" may only use letters, digits and _`);
    }
    return { t: 'json', keys };
  }
  if (parts.length > 1 && (COLUMNS.has(head) || (WHOLE_FIELDS as readonly string[]).includes(head))) {
    fail(`filter: field "${head}" has no sub-field "${parts.slice(1).join('->')}" (known: ${KNOWN_FIELDS})`);
  }
  fail(`filter: unknown field "${name}" (known: ${KNOWN_FIELDS})`);
}

function parseField(name: string, ops: unknown, opts: FilterOptions): Node[] {
  const target = resolveField(name);
  if (!isObject(ops) || Object.keys(ops).length === 0) {
    fail(`filter: field "${name}" expects an object of operators, e.g. {"${name}": {"_exists": true}}, got ${show(ops)}`);
  }
  const allowed = opsFor(target);
  const nodes: Node[] = [];
  for (const [op, v] of Object.entries(ops)) {
    const supported = allowed.filter((o) => o !== '_options').join(', ');
    if (!ALL_OPS.includes(op)) fail(`filter: unknown operator "${op}" on field "${name}" (supported: ${supported})`);
    if (!allowed.includes(op)) fail(`filter: field "${name}" does not support ${op} (supported: ${supported})`);
    const where = `filter: ${op} on "${name}"`;
    switch (op) {
      case '_eq':
      case '_neq':
        nodes.push({ t: 'cmp', target, op: CMP[op], arg: operand(target, v, where, opts) });
        break;
      case '_gt':
      case '_gte':
      case '_lt':
      case '_lte': {
        const arg = operand(target, v, where, opts);
        if (arg.kind === 'boolean') fail(`${where} expects a number or a string, got ${show(v)}`);
        nodes.push({ t: 'cmp', target, op: CMP[op], arg });
        break;
      }
      case '_in':
        if (!Array.isArray(v)) fail(`${where} expects an array, got ${show(v)}`);
        nodes.push({ t: 'in', target, args: v.map((x, i) => operand(target, x, `${where} [${i}]`, opts)) });
        break;
      case '_startsWith':
        if (typeof v !== 'string') fail(`${where} expects a string, got ${show(v)}`);
        nodes.push({ t: 'startsWith', target, prefix: v });
        break;
      case '_regex': {
        const flags = ops._options;
        if (flags !== undefined && flags !== 'i' && flags !== '') {
          fail(`filter: _options on "${name}" expects "i" (case-insensitive) or "", got ${show(flags)}`);
        }
        if (typeof v !== 'string') fail(`${where} expects a pattern string, got ${show(v)}`);
        try {
          boundedRegex(v, false);
        } catch (e) {
          if (e instanceof RegexError) fail(`${where}: ${e.message}`);
          throw e;
        }
        pcrePattern(v, where); // refuses the few JS forms that MariaDB reads differently
        nodes.push({ t: 'regex', target, pattern: v, ci: flags === 'i' });
        break;
      }
      case '_options':
        if (!('_regex' in ops)) fail(`filter: _options on "${name}" only goes with _regex`);
        break;
      case '_exists':
        if (typeof v !== 'boolean') fail(`${where} expects true or false, got ${show(v)}`);
        nodes.push({ t: 'exists', target, want: v });
        break;
      case '_withTag':
        if (typeof v !== 'string') fail(`${where} expects a string, got ${show(v)}`);
        nodes.push({ t: 'tags', tags: [v] });
        break;
      case '_withAnyTag':
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail(`${where} expects an array of strings, got ${show(v)}`);
        nodes.push({ t: 'tags', tags: v });
        break;
      case '_locationInCircle':
        nodes.push(parseCircle(v, where));
        break;
      case '_locationInPolygon':
        nodes.push(parsePolygon(v, where));
        break;
    }
  }
  return nodes;
}

function operand(target: Target, v: unknown, where: string, opts: FilterOptions): Operand {
  if (target.t === 'column') {
    const f = target.f;
    if (f.dataset) return { kind: 'number', v: datasetId(v, where, opts) };
    if (f.kind === 'number') {
      if (!isNumber(v)) fail(`${where} expects a number${f.ms ? ' (epoch milliseconds)' : ''}, got ${show(v)}`);
      return { kind: 'number', v: f.ms ? msToMicros(v) : v };
    }
    if (typeof v !== 'string') fail(`${where} expects a string, got ${show(v)}`);
    // `boolean` is another name for `bool` wherever a metric is named.
    return { kind: 'string', v: f.column === 'metric' && v.endsWith('::boolean') ? (canonicalSelector(v) ?? v) : v };
  }
  if (typeof v === 'string') return { kind: 'string', v };
  if (isNumber(v)) return { kind: 'number', v };
  if (typeof v === 'boolean') return { kind: 'boolean', v: v ? 1 : 0 };
  fail(`${where} expects a number, a string or a boolean, got ${show(v)}`);
}

function datasetId(v: unknown, where: string, opts: FilterOptions): number {
  const key = typeof v === 'number' && Number.isInteger(v) ? String(v) : v;
  if (typeof key !== 'string') fail(`${where} expects a dataset id string, got ${show(v)}`);
  const mapped = opts.datasetIds?.get(key);
  if (mapped !== undefined) return mapped;
  if (!/^\d{1,15}$/.test(key)) fail(`${where}: "${key}" is not a known dataset id`);
  return Number(key);
}

function coordinate(v: unknown, max: number, what: string, where: string): number {
  if (!isNumber(v) || Math.abs(v) > max) fail(`${where}: ${what} must be a number from -${max} to ${max}, got ${show(v)}`);
  return v;
}

function parseCircle(v: unknown, where: string): Node {
  const shape = '{"center": {"lat": …, "lng": …}, "radius": metres}';
  if (!isObject(v) || !isObject(v.center)) fail(`${where} expects ${shape}, got ${show(v)}`);
  const lat = coordinate(v.center.lat, 90, 'center.lat', where);
  const lng = coordinate(v.center.lng, 180, 'center.lng', where);
  if (!isNumber(v.radius) || v.radius < 0) fail(`${where}: radius must be a number of metres, 0 or more, got ${show(v.radius)}`);
  const half = v.radius / (2 * EARTH_RADIUS_M);
  return {
    t: 'circle',
    lat,
    lng,
    cosLat: Math.cos(lat * RAD),
    hMax: half >= Math.PI / 2 ? null : Math.sin(half) ** 2,
  };
}

function parsePolygon(v: unknown, where: string): Node {
  if (!Array.isArray(v) || v.length < 3) fail(`${where} expects an array of at least 3 [lat, lng] points, got ${show(v)}`);
  if (v.length > MAX_ITEMS) fail(`${where} takes at most ${MAX_ITEMS} points, got ${v.length}`);
  const points = v.map((p, i) => {
    if (!Array.isArray(p) || p.length !== 2) fail(`${where}: point ${i} must be [lat, lng], got ${show(p)}`);
    return [coordinate(p[0], 90, `point ${i} lat`, where), coordinate(p[1], 180, `point ${i} lng`, where)];
  });
  // Ray casting (PNPOLY) with y = lat, x = lng: an edge counts when lat is in [yMin, yMax) and the point
  // lies west of the edge there. Horizontal edges never count, so they are dropped.
  const edges: Edge[] = [];
  points.forEach(([yi, xi], i) => {
    const [yj, xj] = points[(i + points.length - 1) % points.length];
    if (yi !== yj) edges.push({ yMin: Math.min(yi, yj), yMax: Math.max(yi, yj), slope: (xj - xi) / (yj - yi), y0: yi, x0: xi });
  });
  return { t: 'polygon', edges };
}

// ---------------------------------------------------------------------------------------------------------
// Regular expressions

/** Every JavaScript-side match goes through RE2 (regex.ts): linear time whatever the pattern. */
const jsRegex = boundedRegex;

// MariaDB runs PCRE2 with Unicode classes (UCP), JavaScript's `u` mode keeps \d \w \b to ASCII and has its
// own \s: spelling these classes out makes MariaDB match exactly what JavaScript matches.
const WORD = 'A-Za-z0-9_';
const CLASSES: Record<string, string> = {
  d: '0-9',
  w: WORD,
  s: '\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}',
};
const BOUNDARY = `(?:(?<=[${WORD}])(?![${WORD}])|(?<![${WORD}])(?=[${WORD}]))`;
const NOT_BOUNDARY = `(?:(?<=[${WORD}])(?=[${WORD}])|(?<![${WORD}])(?![${WORD}]))`;

/**
 * The pattern (already valid for JavaScript) as MariaDB's PCRE2 must see it to match the same strings:
 * `$` -> `\z` (PCRE's `$` also matches before a final newline), \d \w \s \b and their negations spelled
 * out, `\v` (PCRE: any vertical space) -> VT. The few forms PCRE reads differently are refused.
 */
function pcrePattern(pattern: string, where: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[++i];
      if (next === 'u') fail(`${where}: \\u escapes are not portable, write the character itself`);
      if ('dws'.includes(next)) out += inClass ? CLASSES[next] : `[${CLASSES[next]}]`;
      else if ('DWS'.includes(next)) {
        if (inClass) fail(`${where}: \\${next} inside [...] is not supported`);
        out += `[^${CLASSES[next.toLowerCase()]}]`;
      } else if (next === 'b' && !inClass) out += BOUNDARY;
      else if (next === 'B') out += NOT_BOUNDARY; // JavaScript refuses \B inside a class
      else if (next === 'v') out += '\\x{0B}';
      else out += c + next;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      else if (c === '[' && ':.='.includes(pattern[i + 1])) fail(`${where}: POSIX classes like [:alpha:] are not supported`);
    } else if (c === '[') {
      if (pattern.startsWith(']', i + 1) || pattern.startsWith('^]', i + 1)) fail(`${where}: empty character classes [] and [^] are not supported`);
      inClass = true;
    } else if (c === '$') {
      out += '\\z';
      continue;
    }
    out += c;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// SQL

/** A piece of SQL with its parameters. The `sql` tag turns every interpolated non-Frag value into `?`. */
class Frag {
  constructor(
    readonly sql: string,
    readonly params: unknown[] = [],
  ) {}
}
const raw = (text: string) => new Frag(text);
const FALSE = raw('0=1');
const TRUE = raw('1=1');

function sql(strings: TemplateStringsArray, ...values: unknown[]): Frag {
  let text = strings[0];
  const params: unknown[] = [];
  values.forEach((v, i) => {
    if (v instanceof Frag) {
      text += v.sql;
      params.push(...v.params);
    } else {
      text += '?';
      params.push(v);
    }
    text += strings[i + 1];
  });
  return new Frag(text, params);
}

function join(frags: Frag[], separator: string): Frag {
  return new Frag(frags.map((f) => f.sql).join(separator), frags.flatMap((f) => f.params));
}

/** A JSON value to look into. json_valid as well: one malformed row must not make the whole query fail. */
function isJson(d: Dialect, keys: string[]): Frag {
  const valid = raw(d === 'sqlite' ? 'json_valid(value_text)' : 'JSON_VALID(value_text)');
  if (arrayIndex(keys) === null) return sql`${metricIs(d, 'json')} AND ${valid}`;
  return sql`(${metricIs(d, 'json')} OR ${metricIs(d, 'number[]')}) AND ${valid}`;
}

/** `value->N`: N is also an element of a `number[]` value. */
function arrayIndex(keys: string[]): number | null {
  return keys.length === 1 && /^\d{1,3}$/.test(keys[0]) ? Number(keys[0]) : null;
}

/** Metric type a value operand of this kind compares with. */
const TYPE_OF_KIND: Record<Kind, string> = { number: 'number', string: 'string', boolean: 'bool' };

function metricIs(d: Dialect, type: string): Frag {
  const suffix = `::${type}`; // a constant of ours, not user input
  return raw(d === 'sqlite' ? `substr(metric, -${suffix.length}) = '${suffix}'` : `RIGHT(metric, ${suffix.length}) = '${suffix}'`);
}

/** How to read a target as a value of `kind`: the expression, and the guard that makes it meaningful. */
interface View {
  expr: Frag;
  wrap(predicate: Frag): Frag;
}

function view(target: Target, kind: Kind, d: Dialect): View {
  if (target.t === 'column') return { expr: raw(target.f.column), wrap: (p) => p };
  if (target.t === 'value') {
    const expr = raw(kind === 'string' ? 'value_text' : 'value_num');
    return { expr, wrap: (p) => sql`(${metricIs(d, TYPE_OF_KIND[kind])} AND ${p})` };
  }
  if (target.t !== 'json') throw new Error(`no scalar view of ${target.t}`); // parse never builds this
  const path = jsonPath(target.keys, d);
  let typeOk: Frag;
  let expr: Frag;
  if (d === 'sqlite') {
    const types = { number: "IN ('integer', 'real')", string: "= 'text'", boolean: "IN ('true', 'false')" }[kind];
    typeOk = sql`json_type(value_text, ${path}) ${raw(types)}`;
    expr = sql`json_extract(value_text, ${path})`; // SQL values: numbers, text, 1/0 for booleans
  } else {
    const types = { number: "IN ('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')", string: "= 'STRING'", boolean: "= 'BOOLEAN'" }[kind];
    typeOk = sql`JSON_TYPE(JSON_EXTRACT(value_text, ${path})) ${raw(types)}`;
    expr =
      kind === 'number'
        ? sql`JSON_EXTRACT(value_text, ${path})`
        : kind === 'string'
          ? sql`JSON_UNQUOTE(JSON_EXTRACT(value_text, ${path}))`
          : sql`(JSON_UNQUOTE(JSON_EXTRACT(value_text, ${path})) = 'true')`;
  }
  // CASE, not AND: only CASE promises the JSON functions never see a non-JSON value_text (SQLite and
  // MySQL 8 raise errors on those), whatever order the planner picks.
  return { expr, wrap: (p) => sql`CASE WHEN ${isJson(d, target.keys)} THEN (${typeOk} AND ${p}) ELSE 0 END` };
}

/** The JSON path of the keys; for `value->N` it depends on the row's type (array element or object key). */
function jsonPath(keys: string[], d: Dialect): Frag {
  const objectPath = '$' + keys.map((k) => `."${k}"`).join('');
  const index = arrayIndex(keys);
  if (index === null) return sql`${objectPath}`;
  return sql`(CASE WHEN ${metricIs(d, 'number[]')} THEN ${`$[${index}]`} ELSE ${objectPath} END)`;
}

/** MySQL's utf8mb4_bin pads with spaces ('a' = 'a '); comparing bytes keeps strings exact and code-point ordered. */
function exact(d: Dialect, kind: Kind, e: Frag): Frag {
  return d === 'mysql' && kind === 'string' ? sql`CAST(${e} AS BINARY)` : e;
}

function toSql(n: Node, d: Dialect): Frag {
  switch (n.t) {
    case 'and':
    case 'or': {
      if (n.items.length === 0) return n.t === 'and' ? TRUE : FALSE;
      return balanced(n.items.map((item) => sql`(${toSql(item, d)})`), n.t === 'and' ? ' AND ' : ' OR ');
    }
    case 'not':
      // NULL -> false first, so that NOT of "missing" is true, as in the evaluator.
      return sql`NOT COALESCE((${toSql(n.item, d)}), 0)`;
    case 'cmp': {
      const v = view(n.target, n.arg.kind, d);
      return v.wrap(sql`${exact(d, n.arg.kind, v.expr)} ${raw(n.op)} ${exact(d, n.arg.kind, sql`${n.arg.v}`)}`);
    }
    case 'in': {
      const parts: Frag[] = [];
      for (const kind of ['number', 'string', 'boolean'] as const) {
        const args = n.args.filter((a) => a.kind === kind);
        if (args.length === 0) continue;
        const v = view(n.target, kind, d);
        const list = join(args.map((a) => exact(d, kind, sql`${a.v}`)), ', ');
        parts.push(v.wrap(sql`${exact(d, kind, v.expr)} IN (${list})`));
      }
      return parts.length === 0 ? FALSE : parts.length === 1 ? parts[0] : join(parts.map((p) => sql`(${p})`), ' OR ');
    }
    case 'startsWith': {
      const v = view(n.target, 'string', d);
      return v.wrap(
        d === 'sqlite'
          ? sql`substr(${v.expr}, 1, length(${n.prefix})) = ${n.prefix}` // LIKE would ignore case here
          : sql`LEFT(CAST(${v.expr} AS BINARY), ${Buffer.byteLength(n.prefix)}) = CAST(${n.prefix} AS BINARY)`,
      );
    }
    case 'regex': {
      const v = view(n.target, 'string', d);
      if (d === 'sqlite') return v.wrap(sql`sluice_regexp(${v.expr}, ${n.pattern}, ${n.ci ? 'i' : ''})`);
      // Flags spelled out: the column's binary collation would otherwise decide case, and `.` newlines.
      return v.wrap(sql`${v.expr} REGEXP ${limitedPcre(n.ci ? '(?si)' : '(?s-i)', pcrePattern(n.pattern, '_regex'))}`);
    }
    case 'exists':
      return existsSql(n.target, n.want, d);
    case 'tags': {
      if (n.tags.length === 0) return FALSE;
      if (d === 'sqlite') {
        return sql`EXISTS (SELECT 1 FROM json_each(tags) AS tag WHERE tag.value IN (${join(n.tags.map((t) => sql`${t}`), ', ')}))`;
      }
      return sql`(${join(n.tags.map((t) => sql`JSON_CONTAINS(tags, JSON_QUOTE(${t}))`), ' OR ')})`;
    }
    case 'circle':
      if (n.hMax === null) return raw('(lat IS NOT NULL AND lng IS NOT NULL)');
      // Haversine, compared before the asin/sqrt (hav(d/R) <= sin²(radius/2R)) so no value leaves asin's domain.
      return sql`POWER(SIN((lat - ${n.lat}) * ${HALF_RAD}), 2) + ${n.cosLat} * COS(lat * ${RAD}) * POWER(SIN((lng - ${n.lng}) * ${HALF_RAD}), 2) <= ${n.hMax}`;
    case 'polygon': {
      if (n.edges.length === 0) return FALSE;
      const crossings = n.edges.map((e) => sql`(lat >= ${e.yMin} AND lat < ${e.yMax} AND lng < ${e.slope} * (lat - ${e.y0}) + ${e.x0})`);
      return sql`(${join(crossings, ' + ')}) % 2 = 1`;
    }
  }
}

/**
 * `a OR b OR c …` as a balanced tree of parentheses: SQLite refuses expressions nested more than 1 000
 * deep, and a flat list of n terms is n deep to its parser; balanced, it is log2(n).
 */
function balanced(parts: Frag[], separator: string): Frag {
  if (parts.length <= 2) return join(parts, separator);
  const half = Math.ceil(parts.length / 2);
  return sql`(${balanced(parts.slice(0, half), separator)})${raw(separator)}(${balanced(parts.slice(half), separator)})`;
}

function existsSql(target: Target, want: boolean, d: Dialect): Frag {
  let present: Frag;
  switch (target.t) {
    case 'column':
      return raw(`${target.f.column} IS ${want ? 'NOT ' : ''}NULL`);
    case 'value':
      return raw(`value_text IS ${want ? 'NOT ' : ''}NULL`);
    case 'tags':
      return raw(`tags IS ${want ? 'NOT ' : ''}NULL`);
    case 'location':
      present = raw('lat IS NOT NULL AND lng IS NOT NULL');
      break;
    case 'producer':
      present = raw('producer_user_id IS NOT NULL OR producer_client_id IS NOT NULL');
      break;
    case 'json': {
      const path = jsonPath(target.keys, d);
      const notNull = d === 'sqlite' ? sql`json_type(value_text, ${path}) <> 'null'` : sql`JSON_TYPE(JSON_EXTRACT(value_text, ${path})) <> 'NULL'`;
      present = sql`CASE WHEN ${isJson(d, target.keys)} THEN ${notNull} ELSE 0 END`;
      break;
    }
  }
  return want ? sql`(${present})` : sql`NOT COALESCE((${present}), 0)`;
}

/**
 * Filters compiled so far, by the request's filter object: one request compiles its filter up to four
 * times (the check when asked, the exact count, the sample, the export's WHERE), and twelve estimates of a
 * 999-term filter at once spent 60 ms of the event loop on it (CPU profile, probe 4b of issue 10).
 */
const compiled = new WeakMap<object, Partial<Record<Dialect, CompiledFilter>>>();

export function compileFilter(filter: unknown, dialect: Dialect, opts: FilterOptions = {}): CompiledFilter {
  if (filter === null || filter === undefined) return { sql: TRUE.sql, params: [] };
  // Dataset ids change what the SQL says: only filters compiled without them are kept.
  const cached = typeof filter === 'object' && !opts.datasetIds ? compiled.get(filter)?.[dialect] : undefined;
  if (cached) return { sql: cached.sql, params: [...cached.params] };
  checkFilterSize(filter, fail);
  const { sql: text, params } = toSql(parse(filter, opts, 'the filter', 0), dialect);
  checkSqlParams(params.length, fail);
  if (typeof filter === 'object' && !opts.datasetIds) compiled.set(filter, { ...compiled.get(filter), [dialect]: { sql: text, params: [...params] } });
  return { sql: text, params };
}

/** SQL functions the SQLite form of a filter calls. Run on every connection that runs filtered queries. */
export function registerSqliteFunctions(db: Database): void {
  db.function('sluice_regexp', { deterministic: true }, (value: unknown, pattern: unknown, flags: unknown) =>
    value === null ? null : jsRegex(String(pattern), flags === 'i').test(String(value)) ? 1 : 0,
  );
  // better-sqlite3's own SQLite build has the math functions; one linked against a system SQLite may not.
  try {
    db.prepare('SELECT sin(0), cos(0), power(2, 2)').get();
  } catch {
    const math: Record<string, (...a: number[]) => number> = { sin: Math.sin, cos: Math.cos, power: Math.pow };
    for (const [name, fn] of Object.entries(math)) {
      db.function(name, { deterministic: true }, (...args: unknown[]) => (args.some((a) => a === null) ? null : fn(...(args as number[]))));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The in-memory evaluator: the same tree, the same arithmetic, JavaScript values.

/** Parses once; the returned predicate can be run over many events. */
export function filterPredicate(filter: unknown, opts: FilterOptions = {}): (event: PlainEvent) => boolean {
  if (filter === null || filter === undefined) return () => true;
  checkFilterSize(filter, fail);
  const tree = parse(filter, opts, 'the filter', 0);
  return (event) => holds(tree, event);
}

export function evaluateFilter(filter: unknown, event: PlainEvent, opts: FilterOptions = {}): boolean {
  return filterPredicate(filter, opts)(event);
}

/** The target read as `kind`, or undefined when it is missing or of another type (SQL: NULL). */
function read(target: Target, kind: Kind, e: PlainEvent): number | string | undefined {
  let v: unknown;
  if (target.t === 'column') v = target.f.get(e);
  else if (target.t === 'value') v = e.metric.endsWith(`::${TYPE_OF_KIND[kind]}`) ? e.value : undefined;
  else if (target.t === 'json') v = jsonAt(e, target.keys);
  if (typeof v === 'boolean') return kind === 'boolean' ? (v ? 1 : 0) : undefined;
  if (typeof v === 'number') return kind === 'number' ? v : undefined;
  if (typeof v === 'string') return kind === 'string' ? v : undefined;
  return undefined;
}

function jsonAt(e: PlainEvent, keys: string[]): unknown {
  if (e.metric.endsWith('::json')) return walk(e.value, keys);
  const index = arrayIndex(keys);
  return index !== null && e.metric.endsWith('::number[]') && Array.isArray(e.value) ? e.value[index] : undefined;
}

function walk(value: unknown, keys: string[]): unknown {
  let cur = value;
  for (const key of keys) {
    if (!isObject(cur) || !Object.hasOwn(cur, key)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** Code-point order, which is what SQLite's memcmp and MySQL's byte comparison of UTF-8 give. */
function order(a: number | string, b: number | string): number {
  if (typeof a === 'number' || typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function present(target: Target, e: PlainEvent): boolean {
  switch (target.t) {
    case 'column':
      return target.f.get(e) != null;
    case 'value':
      return e.value != null;
    case 'json':
      return jsonAt(e, target.keys) != null;
    case 'tags':
      return e.tags != null;
    case 'location':
      return e.location != null;
    case 'producer':
      return e.producer != null && (e.producer.userId != null || e.producer.clientId != null);
  }
}

const square = (x: number) => x * x;

function holds(n: Node, e: PlainEvent): boolean {
  switch (n.t) {
    case 'and':
      return n.items.every((item) => holds(item, e));
    case 'or':
      return n.items.some((item) => holds(item, e));
    case 'not':
      return !holds(n.item, e);
    case 'cmp': {
      const x = read(n.target, n.arg.kind, e);
      if (x === undefined) return false;
      const c = order(x, n.arg.v);
      return { '=': c === 0, '<>': c !== 0, '>': c > 0, '>=': c >= 0, '<': c < 0, '<=': c <= 0 }[n.op];
    }
    case 'in':
      return n.args.some((a) => read(n.target, a.kind, e) === a.v);
    case 'startsWith': {
      const x = read(n.target, 'string', e);
      return typeof x === 'string' && x.startsWith(n.prefix);
    }
    case 'regex': {
      const x = read(n.target, 'string', e);
      return typeof x === 'string' && jsRegex(n.pattern, n.ci).test(x);
    }
    case 'exists':
      return present(n.target, e) === n.want;
    case 'tags':
      return e.tags != null && n.tags.some((t) => e.tags!.includes(t));
    case 'circle': {
      if (e.location == null) return false;
      if (n.hMax === null) return true;
      const { lat, lng } = e.location;
      // Same operations in the same order as the SQL; x*x is what libm's pow(x, 2) returns.
      const h = square(Math.sin((lat - n.lat) * HALF_RAD)) + n.cosLat * Math.cos(lat * RAD) * square(Math.sin((lng - n.lng) * HALF_RAD));
      return h <= n.hMax;
    }
    case 'polygon': {
      if (e.location == null) return false;
      const { lat, lng } = e.location;
      const crossings = n.edges.filter((g) => lat >= g.yMin && lat < g.yMax && lng < g.slope * (lat - g.y0) + g.x0).length;
      return crossings % 2 === 1;
    }
  }
}
