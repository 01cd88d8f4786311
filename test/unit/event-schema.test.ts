import { canonicalSelector, charCount, EVENT_COLUMNS, EVENT_FIELDS, FIELD_COLUMNS, METRIC_TYPES, parseMetric, PRECISIONS, ROW } from '../../src/events/event-schema';
import { eventIdentity } from '../../src/events/identity';
import { syntheticRows } from '../../src/catalog/seed';
import { EventField, TimestampPrecision } from '../../src/graphql/types/enums';

describe('the event schema', () => {
  test('metric types are Obelisk\'s, with boolean another name for bool', () => {
    expect(METRIC_TYPES).toEqual(['number', 'number[]', 'bool', 'string', 'json']);
    expect(parseMetric('door::boolean')).toEqual({ name: 'door', type: 'bool', canonical: 'door::bool' });
    expect(parseMetric('accel::number[]')).toEqual({ name: 'accel', type: 'number[]', canonical: 'accel::number[]' });
    expect(parseMetric('a b::string')?.canonical).toBe('a b::string');
    for (const bad of ['x', 'x::', '::number', ' x::number', 'x::Number', 'x::number[', 'a:b::number', 'x::number::json', 'x::float']) expect(parseMetric(bad)).toBeNull();
  });

  test('selectors: name::type and *::type, aliases replaced', () => {
    expect(canonicalSelector('*::boolean')).toBe('*::bool');
    expect(canonicalSelector('*::number[]')).toBe('*::number[]');
    expect(canonicalSelector('x::bool')).toBe('x::bool');
    expect(canonicalSelector('*:bool')).toBeNull();
    expect(canonicalSelector('*::float')).toBeNull();
  });

  test('characters are counted as code points', () => {
    expect(charCount('é'.repeat(200))).toBe(200);
    expect(charCount('😀'.repeat(100))).toBe(100); // 200 UTF-16 units
    expect(charCount('😀'.repeat(129))).toBe(129);
  });

  test('every field has its columns, and the GraphQL enums are made from the same lists', () => {
    expect(Object.keys(FIELD_COLUMNS)).toEqual(EVENT_FIELDS);
    for (const columns of Object.values(FIELD_COLUMNS)) for (const c of columns) expect([...EVENT_COLUMNS, 'id']).toContain(c);
    expect(Object.values(EventField)).toEqual(EVENT_FIELDS);
    expect(Object.values(TimestampPrecision)).toEqual(PRECISIONS);
    expect(EVENT_COLUMNS[ROW.identity]).toBe('identity');
    expect(EVENT_COLUMNS[ROW.ts]).toBe('ts');
    expect(EVENT_COLUMNS[ROW.metric]).toBe('metric');
  });

  test('identity: 24 bytes; a null part differs from the string "null"; neighbours do not run together', () => {
    const id = eventIdentity(1, 10, 'm::number', 's', null, null);
    expect(id).toHaveLength(24);
    expect(eventIdentity(1, 10, 'm::number', 's', null, null).equals(id)).toBe(true);
    expect(eventIdentity(1, 10, 'm::number', 's', 'null', null).equals(id)).toBe(false);
    expect(eventIdentity(1, 10, 'm::number', null, null, null).equals(id)).toBe(false);
    expect(eventIdentity(1, 10, 'm::number', 's', null, 'c').equals(id)).toBe(false);
    expect(eventIdentity(1, 10, 'n::number', 's', null, null).equals(id)).toBe(false);
    expect(eventIdentity(2, 10, 'm::number', 's', null, null).equals(id)).toBe(false);
    expect(eventIdentity(1, 11, 'm::number', 's', null, null).equals(id)).toBe(false);
    expect(eventIdentity(1, 10, 'm::number', 'ab', 'c', null).equals(eventIdentity(1, 10, 'm::number', 'a', 'bc', null))).toBe(false);
  });

  test('identity: the hashed part tells apart 100 000 series sharing one dataset and one microsecond', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      seen.add(eventIdentity(7, 1_700_000_000_000_000, `m${i % 50}::number`, `sensor-${Math.floor(i / 50)}`, `user-${i % 3}`, `client-${i % 11}`).toString('hex'));
    }
    expect(seen.size).toBe(100_000);
  });

  test('identity: the bytes sort as (dataset, timestamp) do, across 32-bit boundaries and below zero', () => {
    const stamps = [-(2 ** 40), -1, 0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 1_700_000_000_000_000, 1_700_000_000_000_001, Number.MAX_SAFE_INTEGER];
    const keys: { dataset: number; ts: number; id: Buffer }[] = [];
    for (const dataset of [1, 2, 256, 2 ** 31]) {
      for (const ts of stamps) keys.push({ dataset, ts, id: eventIdentity(dataset, ts, `m${ts % 5}::number`, String(ts), null, null) });
    }
    const byBytes = [...keys].sort((a, b) => Buffer.compare(a.id, b.id));
    expect(byBytes.map((k) => [k.dataset, k.ts])).toEqual(keys.map((k) => [k.dataset, k.ts]));
  });

  test('identity: seeded events carry the identity eventIdentity gives their parts', () => {
    const rows = [...syntheticRows({ datasetId: 3, events: 2000, metrics: 12, sources: 7, startMs: 1_700_000_000_000 }, 0, 2000)];
    for (const r of rows) expect(r[ROW.identity].equals(eventIdentity(r[ROW.dataset], r[ROW.ts], r[ROW.metric], r[5], r[11], r[12]))).toBe(true);
    expect(new Set(rows.map((r) => r[ROW.identity].toString('hex'))).size).toBe(rows.length);
  });
});
