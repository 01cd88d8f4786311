import Database from 'better-sqlite3';
import { compileFilter, evaluateFilter, FilterError, filterPredicate, PlainEvent, registerSqliteFunctions } from '../../src/exports/filter';
import { encodeGeohash } from '../../src/exports/geohash';

const event = (over: Partial<PlainEvent> = {}): PlainEvent => ({
  datasetId: 12,
  ts: 1_700_000_000_000_123,
  metric: 'temp::number',
  value: 21.5,
  source: 'sensor-1',
  tags: ['red', 'Blue'],
  location: { lat: 57.64911, lng: 10.40744 },
  geohash: 'u4pruydqq',
  elevation: 12,
  producer: { userId: 'u1', clientId: null },
  tsReceived: 1_700_000_000_500_000,
  ...over,
});

function errorOf(filter: unknown): string {
  try {
    compileFilter(filter, 'sqlite');
  } catch (e) {
    expect(e).toBeInstanceOf(FilterError);
    return (e as Error).message;
  }
  throw new Error(`no error for ${JSON.stringify(filter)}`);
}

describe('compileFilter: SQL and parameters', () => {
  test.each([{}, null, undefined])('%p selects everything', (filter) => {
    expect(compileFilter(filter, 'sqlite')).toEqual({ sql: '1=1', params: [] });
    expect(compileFilter(filter, 'mysql')).toEqual({ sql: '1=1', params: [] });
  });

  test('strings compare exactly: plain on SQLite, as bytes on MySQL (utf8mb4_bin pads spaces)', () => {
    expect(compileFilter({ source: { _eq: 'a' } }, 'sqlite')).toEqual({ sql: 'source = ?', params: ['a'] });
    expect(compileFilter({ source: { _eq: 'a' } }, 'mysql')).toEqual({ sql: 'CAST(source AS BINARY) = CAST(? AS BINARY)', params: ['a'] });
  });

  test('timestamp operands are milliseconds, the column microseconds, fractions kept exactly', () => {
    expect(compileFilter({ timestamp: { _gte: 1700000000000.123, _lt: 1700000001000 } }, 'sqlite')).toEqual({
      sql: '(ts >= ?) AND (ts < ?)',
      params: [1700000000000123, 1700000001000000],
    });
    expect(compileFilter({ tsReceived: { _in: [1.5, 2] } }, 'mysql').params).toEqual([1500, 2000]);
  });

  test('value is typed by the metric suffix', () => {
    expect(compileFilter({ value: { _gt: 5 } }, 'sqlite')).toEqual({ sql: "(substr(metric, -8) = '::number' AND value_num > ?)", params: [5] });
    expect(compileFilter({ value: { _eq: true } }, 'mysql')).toEqual({ sql: "(RIGHT(metric, 6) = '::bool' AND value_num = ?)", params: [1] });
    expect(compileFilter({ value: { _in: [1, 'a'] } }, 'sqlite')).toEqual({
      sql: "((substr(metric, -8) = '::number' AND value_num IN (?))) OR ((substr(metric, -8) = '::string' AND value_text IN (?)))",
      params: [1, 'a'],
    });
  });

  test('value->path reads JSON values only, behind a CASE guard, with the path as a parameter', () => {
    const { sql, params } = compileFilter({ 'value->a->b': { _eq: 'x' } }, 'sqlite');
    expect(sql).toBe(
      "CASE WHEN substr(metric, -6) = '::json' AND json_valid(value_text) THEN (json_type(value_text, ?) = 'text' AND json_extract(value_text, ?) = ?) ELSE 0 END",
    );
    expect(params).toEqual(['$."a"."b"', '$."a"."b"', 'x']);
    expect(compileFilter({ 'value->n': { _gt: 1 } }, 'mysql').sql).toContain("JSON_TYPE(JSON_EXTRACT(value_text, ?)) IN ('INTEGER'");
  });

  test('_not turns a missing field into true, like the evaluator', () => {
    expect(compileFilter({ _not: { source: { _eq: 'a' } } }, 'sqlite').sql).toBe('NOT COALESCE((source = ?), 0)');
  });

  test('_startsWith is case-sensitive: substr on SQLite (LIKE ignores case), byte prefix on MySQL', () => {
    expect(compileFilter({ metric: { _startsWith: 'té' } }, 'sqlite')).toEqual({ sql: 'substr(metric, 1, length(?)) = ?', params: ['té', 'té'] });
    expect(compileFilter({ metric: { _startsWith: 'té' } }, 'mysql')).toEqual({
      sql: 'LEFT(CAST(metric AS BINARY), ?) = CAST(? AS BINARY)',
      params: [3, 'té'],
    });
  });

  test('_regex: a registered function on SQLite; PCRE with explicit flags and JavaScript classes on MySQL', () => {
    expect(compileFilter({ source: { _regex: 'a$', _options: 'i' } }, 'sqlite')).toEqual({ sql: 'sluice_regexp(source, ?, ?)', params: ['a$', 'i'] });
    expect(compileFilter({ source: { _regex: '^\\w+\\d$' } }, 'mysql')).toEqual({
      sql: 'source REGEXP ?',
      params: ['(*LIMIT_MATCH=10000)(?s-i)^[A-Za-z0-9_]+[0-9]\\z'],
    });
    expect(compileFilter({ source: { _regex: '[$\\s]', _options: 'i' } }, 'mysql').params[0]).toMatch(/^\(\*LIMIT_MATCH=\d+\)\(\?si\)\[\$\\t\\n/);
  });

  test('tags, circle and polygon', () => {
    expect(compileFilter({ tags: { _withAnyTag: ['a', 'b'] } }, 'sqlite').sql).toBe(
      'EXISTS (SELECT 1 FROM json_each(tags) AS tag WHERE tag.value IN (?, ?))',
    );
    expect(compileFilter({ tags: { _withTag: 'a' } }, 'mysql')).toEqual({ sql: '(JSON_CONTAINS(tags, JSON_QUOTE(?)))', params: ['a'] });
    expect(compileFilter({ tags: { _withAnyTag: [] } }, 'mysql').sql).toBe('0=1');
    const circle = compileFilter({ location: { _locationInCircle: { center: { lat: 1, lng: 2 }, radius: 1000 } } }, 'sqlite');
    expect(circle.sql).toBe('POWER(SIN((lat - ?) * ?), 2) + ? * COS(lat * ?) * POWER(SIN((lng - ?) * ?), 2) <= ?');
    expect(circle.params).toHaveLength(7);
    const polygon = compileFilter({ location: { _locationInPolygon: [[0, 0], [0, 1], [1, 1], [1, 0]] } }, 'mysql');
    expect(polygon.sql).toMatch(/^\(\(lat >= \? AND lat < \? AND lng < \? \* \(lat - \?\) \+ \?\) \+ \(.*\)\) % 2 = 1$/);
    expect(polygon.params).toHaveLength(10); // two horizontal edges dropped
  });

  test('_exists on each kind of field', () => {
    expect(compileFilter({ elevation: { _exists: false } }, 'sqlite').sql).toBe('elevation IS NULL');
    expect(compileFilter({ producer: { _exists: true } }, 'mysql').sql).toBe('(producer_user_id IS NOT NULL OR producer_client_id IS NOT NULL)');
    expect(compileFilter({ location: { _exists: false } }, 'mysql').sql).toBe('NOT COALESCE((lat IS NOT NULL AND lng IS NOT NULL), 0)');
  });

  test('dataset ids map through opts.datasetIds, else numeric ids are used as they are', () => {
    expect(compileFilter({ dataset: { _in: ['ds-a', '7'] } }, 'sqlite', { datasetIds: new Map([['ds-a', 3]]) })).toEqual({
      sql: 'dataset_id IN (?, ?)',
      params: [3, 7],
    });
    expect(errorOf({ dataset: { _eq: 'ds-a' } })).toBe('filter: _eq on "dataset": "ds-a" is not a known dataset id');
  });

  test('user values only ever travel as parameters', () => {
    const evil = "x' OR 1=1; DROP TABLE event; --";
    const filter = {
      _or: [
        { source: { _eq: evil, _startsWith: evil, _regex: 'DROP' } },
        { value: { _in: [evil, 1] } },
        { 'value->DROP': { _eq: evil } },
        { tags: { _withTag: evil } },
      ],
    };
    for (const dialect of ['sqlite', 'mysql'] as const) {
      const { sql, params } = compileFilter(filter, dialect);
      expect(sql).not.toContain('DROP');
      expect(sql).not.toContain("x'");
      expect(params).toContain(evil);
      expect(sql.split('?').length - 1).toBe(params.length);
    }
  });
});

describe('compileFilter: errors name the problem', () => {
  test.each<[unknown, RegExp]>([
    [{ colour: { _eq: 'red' } }, /^filter: unknown field "colour" \(known: timestamp, dataset, metric, .*value->key/],
    [{ source: { _like: 'a' } }, /^filter: unknown operator "_like" on field "source" \(supported: _eq, _neq/],
    [{ source: { _withTag: 'a' } }, /^filter: field "source" does not support _withTag/],
    [{ producer: { _eq: 'u1' } }, /^filter: field "producer" does not support _eq \(supported: _exists\)/],
    [{ source: { _in: 'a' } }, /^filter: _in on "source" expects an array, got "a"/],
    [{ elevation: { _gt: { a: 1 } } }, /^filter: _gt on "elevation" expects a number, got \{"a":1\}/],
    [{ timestamp: { _gt: '2024-01-01' } }, /expects a number \(epoch milliseconds\)/],
    [{ value: { _gt: true } }, /^filter: _gt on "value" expects a number or a string, got true/],
    [{ value: { _eq: null } }, /^filter: _eq on "value" expects a number, a string or a boolean, got null/],
    [{ source: { _regex: '(' } }, /^filter: _regex on "source": invalid pattern: /],
    [{ source: { _regex: '\\u0041' } }, /\\u escapes are not portable/],
    [{ source: { _regex: '(?<=a+)b' } }, /^filter: _regex on "source": pattern "\(\?<=a\+\)b" cannot run in bounded time: invalid perl operator: \(\?<= \(look-ahead, look-behind/],
    [{ source: { _regex: '(a)\\1' } }, /cannot run in bounded time: invalid escape sequence: \\1/],
    [{ source: { _regex: 'a{1001}' } }, /cannot run in bounded time: invalid repetition size/],
    [{ source: { _regex: 'a', _options: 'g' } }, /^filter: _options on "source" expects "i"/],
    [{ source: { _options: 'i' } }, /^filter: _options on "source" only goes with _regex/],
    [{ location: { _locationInCircle: { center: { lat: 0, lng: 0 }, radius: -1 } } }, /radius must be a number of metres, 0 or more, got -1/],
    [{ location: { _locationInCircle: { center: { lat: 91, lng: 0 }, radius: 1 } } }, /center\.lat must be a number from -90 to 90, got 91/],
    [{ location: { _locationInPolygon: [[0, 0], [1, 1]] } }, /expects an array of at least 3 \[lat, lng\] points/],
    [{ tags: { _withAnyTag: ['a', 1] } }, /^filter: _withAnyTag on "tags" expects an array of strings/],
    [{ source: { _exists: 'yes' } }, /^filter: _exists on "source" expects true or false, got "yes"/],
    [{ 'value->a b': { _eq: 1 } }, /key "a b" may only use letters, digits and _/],
    [{ 'source->x': { _eq: 1 } }, /^filter: field "source" has no sub-field "x"/],
    [{ _and: { source: { _eq: 'a' } } }, /^filter: _and expects an array of filters/],
    [{ _or: [1] }, /^filter: _or\[0\] must be an object/],
    [{ _not: [] }, /^filter: _not must be an object/],
    [{ _eq: 1 }, /^filter: operator _eq must sit inside a field/],
    [{ source: 'a' }, /^filter: field "source" expects an object of operators/],
    [{ source: {} }, /^filter: field "source" expects an object of operators/],
    [[], /^filter: the filter must be an object/],
    ['source = 1', /^filter: the filter must be an object/],
  ])('%j', (filter, message) => {
    expect(errorOf(filter)).toMatch(message);
  });

  test('size bounds of SPEC §8, each named (checked before anything is compiled)', () => {
    const ones = (n: number) => Array.from({ length: n }, () => 1);
    expect(errorOf({ value: { _in: ones(10_001) } })).toMatch(/^filter: 10001 _in\/_withAnyTag values in all; at most 10000/);
    expect(errorOf({ _or: [{ value: { _in: ones(6000) } }, { tags: { _withAnyTag: Array.from({ length: 5000 }, () => 'a') } }] })).toMatch(/11000 _in\/_withAnyTag values in all/);
    expect(() => compileFilter({ value: { _in: ones(10_000) } }, 'sqlite')).not.toThrow();
    // 100 lists of 1 000 values: refused by the 64 KB rule before their values are even counted
    expect(errorOf({ _or: Array.from({ length: 100 }, () => ({ value: { _in: ones(1000) } })) })).toMatch(/^filter: \d+ bytes of JSON; at most 65536 \(64 KB\)/);
    expect(errorOf({ _or: Array.from({ length: 2000 }, (_, i) => ({ value: { _eq: i } })) })).toMatch(/^filter: 2001 operators; at most 1000 are allowed/);
    expect(() => compileFilter({ _or: Array.from({ length: 999 }, (_, i) => ({ value: { _eq: i } })) }, 'mysql')).not.toThrow();
    expect(errorOf({ source: { _eq: 'x'.repeat(70_000) } })).toMatch(/^filter: 70021 bytes of JSON; at most 65536 \(64 KB\)/);
    const polygon = Array.from({ length: 1000 }, (_, i) => [i % 80, i % 2]);
    expect(errorOf({ _and: Array.from({ length: 9 }, () => ({ location: { _locationInPolygon: polygon } })) })).toMatch(/^filter: it compiles to \d+ SQL parameters; at most 20000/);
    expect(() => filterPredicate({ _or: Array.from({ length: 1001 }, () => ({ source: { _eq: 'a' } })) })).toThrow(/1002 operators/);
  });

  test('nesting is bounded', () => {
    let filter: unknown = { source: { _eq: 'a' } };
    for (let i = 0; i < 40; i++) filter = { _not: filter };
    expect(errorOf(filter)).toMatch(/nested more than 32 levels/);
  });
});

describe('evaluateFilter', () => {
  const cases: Array<[unknown, Partial<PlainEvent>, boolean]> = [
    [{}, {}, true],
    [{ source: { _eq: 'sensor-1' } }, {}, true],
    [{ source: { _eq: 'Sensor-1' } }, {}, false],
    [{ source: { _eq: 'sensor-1' } }, { source: 'sensor-1 ' }, false],
    [{ source: { _neq: 'x' } }, { source: null }, false], // missing never matches a comparison...
    [{ _not: { source: { _eq: 'x' } } }, { source: null }, true], // ...and _not is plain negation
    [{ source: { _exists: false } }, { source: null }, true],
    [{ source: { _gt: '\ue000' } }, { source: '😀' }, true], // code-point order, not UTF-16
    [{ source: { _startsWith: 'Sen' } }, {}, false],
    [{ source: { _regex: 'SENSOR-\\d$', _options: 'i' } }, {}, true],
    [{ source: { _regex: '1$' } }, { source: 'sensor-1\n' }, false],
    [{ timestamp: { _gte: 1700000000000.123 } }, {}, true],
    [{ timestamp: { _gt: 1700000000000.123 } }, {}, false],
    [{ dataset: { _eq: '12' } }, {}, true],
    [{ value: { _gt: 20 } }, {}, true],
    [{ value: { _gt: 20 } }, { metric: 'x::json', value: 21.5 }, false],
    [{ value: { _eq: '21.5' } }, {}, false],
    [{ value: { _eq: true } }, { metric: 'on::bool', value: true }, true],
    [{ value: { _eq: 1 } }, { metric: 'on::bool', value: true }, false],
    [{ value: { _in: ['a', 21.5] } }, {}, true],
    [{ 'value->a->b': { _eq: 'x' } }, { metric: 'doc::json', value: { a: { b: 'x' } } }, true],
    [{ 'value->a->b': { _eq: 'x' } }, { metric: 'doc::string', value: '{"a":{"b":"x"}}' }, false],
    [{ 'value->a': { _gt: 1 } }, { metric: 'doc::json', value: { a: '5' } }, false],
    [{ 'value->a': { _exists: true } }, { metric: 'doc::json', value: { a: null } }, false],
    [{ 'value->0': { _exists: true } }, { metric: 'doc::json', value: ['x'] }, false],
    [{ tags: { _withTag: 'blue' } }, {}, false],
    [{ tags: { _withAnyTag: ['x', 'Blue'] } }, {}, true],
    [{ tags: { _withTag: 'red' } }, { tags: null }, false],
    [{ location: { _locationInCircle: { center: { lat: 57.65, lng: 10.41 }, radius: 300 } } }, {}, true],
    [{ location: { _locationInCircle: { center: { lat: 57.65, lng: 10.41 }, radius: 100 } } }, {}, false],
    [{ location: { _locationInCircle: { center: { lat: 0, lng: 0 }, radius: 3e7 } } }, {}, true],
    [{ location: { _locationInPolygon: [[57, 10], [58, 10], [58, 11], [57, 11]] } }, {}, true],
    [{ location: { _locationInPolygon: [[57, 10], [58, 10], [58, 10.4]] } }, {}, false],
    [{ location: { _exists: true } }, { location: null }, false],
    [{ 'location->lat': { _lt: 58 } }, {}, true],
    [{ producer: { _exists: true } }, { producer: { userId: null, clientId: null } }, false],
    [{ 'producer->clientId': { _exists: false } }, {}, true],
    [{ _or: [] }, {}, false],
    [{ _and: [] }, {}, true],
    [{ _or: [{ source: { _eq: 'x' } }, { elevation: { _gte: 12 } }], geohash: { _startsWith: 'u4pr' } }, {}, true],
  ];
  test.each(cases)('%j on %j -> %p', (filter, over, want) => {
    expect(evaluateFilter(filter, event(over))).toBe(want);
  });

  test('rejects the same filters as the compiler', () => {
    expect(() => evaluateFilter({ colour: { _eq: 1 } }, event())).toThrow(FilterError);
  });
});

describe('registerSqliteFunctions', () => {
  test('a 997-term _or compiles to a balanced tree that SQLite runs (a flat one passes its 1 000-deep expression limit)', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE event (source TEXT, ts INTEGER)');
    db.prepare('INSERT INTO event VALUES (?, ?)').run('s998', 1);
    const filter = compileFilter({ _and: [{ _or: Array.from({ length: 997 }, (_, i) => ({ source: { _eq: `s${i + 2}` } })) }, { source: { _exists: true } }] }, 'sqlite');
    expect(db.prepare(`SELECT COUNT(*) AS n FROM event WHERE ts > 0 AND ${filter.sql}`).get(...filter.params)).toEqual({ n: 1 });
    db.close();
  });

  test('sluice_regexp runs RE2: a pattern that backtracks for minutes in a backtracking engine answers at once', () => {
    const db = new Database(':memory:');
    registerSqliteFunctions(db);
    const started = Date.now();
    const row = db.prepare("SELECT sluice_regexp(?, '(a+)+$', '') m, sluice_regexp(?, '\\s', '') s").get(`${'a'.repeat(5000)}!`, '\u00a0');
    expect(row).toEqual({ m: 0, s: 1 }); // and \s still means JavaScript's \s (U+00A0 included)
    expect(Date.now() - started).toBeLessThan(500);
    db.close();
  });

  test('adds sluice_regexp backed by RE2 with JavaScript meaning (u and s flags)', () => {
    const db = new Database(':memory:');
    registerSqliteFunctions(db);
    const row = db
      .prepare("SELECT sluice_regexp('Abc', 'b', '') a, sluice_regexp('ABC', 'b', 'i') b, sluice_regexp('a\nb', '^a.b$', '') c, sluice_regexp(NULL, 'a', '') d")
      .get();
    expect(row).toEqual({ a: 1, b: 1, c: 1, d: null });
    db.close();
  });
});

describe('encodeGeohash', () => {
  test.each<[number, number, number, string]>([
    [57.64911, 10.40744, 11, 'u4pruydqqvj'],
    [42.6, -5.6, 5, 'ezs42'],
    [0, 0, 5, 's0000'],
    [-90, -180, 4, '0000'],
    [90, 180, 4, 'zzzz'],
  ])('%p, %p (%p chars) -> %p', (lat, lng, precision, hash) => {
    expect(encodeGeohash(lat, lng, precision)).toBe(hash);
  });

  test('defaults to 9 characters and refuses out-of-range input', () => {
    expect(encodeGeohash(57.64911, 10.40744)).toBe('u4pruydqq');
    expect(() => encodeGeohash(91, 0)).toThrow(RangeError);
    expect(() => encodeGeohash(0, 0, 13)).toThrow(RangeError);
  });
});
