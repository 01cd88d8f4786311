import { eventToRow } from '../../src/catalog/events';
import { arrayIndexAt, firstInvalidUtf8, IngestError, prepareIngest } from '../../src/catalog/ingest-body';
import { ROW } from '../../src/events/event-schema';

const NOW = 1_800_000_000_000_000;
const row = (e: unknown, precision: 'SECONDS' | 'MILLISECONDS' | 'MICROSECONDS' = 'MILLISECONDS') => eventToRow(e, 7, precision, NOW);
const refused = (e: unknown) => {
  try {
    row(e);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(e)}`);
};

describe('ingest rules', () => {
  test('values by type: the text as exported, the number for numeric filters', () => {
    expect(row({ timestamp: 1, metric: 'a::number', value: 0.1 + 0.2 }).slice(2, 5)).toEqual(['a::number', 0.30000000000000004, '0.30000000000000004']);
    expect(row({ timestamp: 1, metric: 'a::number[]', value: [1, -2.5, 1e21] }).slice(2, 5)).toEqual(['a::number[]', null, '[1,-2.5,1e+21]']);
    expect(row({ timestamp: 1, metric: 'a::boolean', value: true }).slice(2, 5)).toEqual(['a::bool', 1, 'true']);
    expect(row({ timestamp: 1, metric: 'a::json', value: 'x' }).slice(2, 5)).toEqual(['a::json', null, '"x"']);
    expect(row({ timestamp: 1, metric: 'a::string', value: null }).slice(3, 5)).toEqual([null, null]);
  });

  test('timestamps: positive integers in the precision, or ISO 8601 down to microseconds', () => {
    expect(row({ timestamp: 2, metric: 'a::number' }, 'SECONDS')[ROW.ts]).toBe(2_000_000);
    expect(row({ timestamp: 2, metric: 'a::number' }, 'MICROSECONDS')[ROW.ts]).toBe(2);
    expect(row({ timestamp: '2024-05-01T12:00:00.123456Z', metric: 'a::number' })[ROW.ts]).toBe(Date.UTC(2024, 4, 1, 12) * 1000 + 123_456);
    expect(row({ timestamp: '2024-05-01T14:00:00+02:00', metric: 'a::number' })[ROW.ts]).toBe(Date.UTC(2024, 4, 1, 12) * 1000);
    expect(row({ metric: 'a::number' })[ROW.ts]).toBe(NOW);
    for (const bad of [0, -1, 1.5, 'yesterday', '2024-05-01', true]) expect(refused({ timestamp: bad, metric: 'a::number' })).toMatch(/^timestamp must be a positive integer/);
  });

  test.each([
    [{ metric: `${'m'.repeat(129)}::number` }, 'the metric name has more than 128 characters'],
    [{ metric: 'm::number', source: 's'.repeat(129) }, 'source has more than 128 characters'],
    [{ metric: 'm::number', tags: ['t'.repeat(129)] }, 'tag 0 has more than 128 characters'],
    [{ metric: 'm::number', tags: Array(33).fill('t') }, '33 tags; an event has at most 32'],
    [{ metric: 'm::number[]', value: Array(129).fill(0) }, 'value has 129 entries; a number[] holds at most 128'],
    [{ metric: 'm::number[]', value: [1, '2'] }, 'value [1,"2"] is not a number[], as metric m::number[] requires'],
    [{ metric: 'm::string', value: 'x'.repeat(65_536) }, 'value has more than 65535 characters'],
    [{ metric: 'm::json', value: ['x'.repeat(65_533)] }, 'value has more than 65535 characters as compact JSON'],
    [{ metric: 'm::json', value: { a: [Infinity] } }, 'value holds a number too large for a double (like 1e400); it would be stored as null'],
    [{ metric: 'm::number', value: Infinity }, 'value must be a finite number (it is too large for a double)'],
    [{ metric: 'm::string', value: '\ud800' }, 'value holds a lone UTF-16 surrogate (\\ud800-\\udfff escape): it is not valid Unicode'],
    [{ metric: 'm::json', value: { ['\udc00']: 1 } }, 'value holds a lone UTF-16 surrogate (\\ud800-\\udfff escape): it is not valid Unicode'],
    [{ metric: 'm::number', colour: 'red' }, 'unknown property "colour" (known: timestamp, metric, value, source, tags, location, elevation, producer)'],
  ])('%j is refused: %s', (e, message) => {
    expect(refused({ timestamp: 1, ...e })).toBe(message);
  });

  test('the limits themselves are allowed', () => {
    expect(() => row({ timestamp: 1, metric: `${'😀'.repeat(128)}::number`, source: 'é'.repeat(128), tags: Array(32).fill('t'.repeat(128)) })).not.toThrow();
    expect(() => row({ timestamp: 1, metric: 'm::number[]', value: Array(128).fill(1.5) })).not.toThrow();
    expect(() => row({ timestamp: 1, metric: 'm::string', value: 'x'.repeat(65_535) })).not.toThrow();
    expect(() => row({ timestamp: 1, metric: 'm::json', value: 'x'.repeat(65_533) })).not.toThrow(); // 65 535 with its quotes
  });

  test('a body: UTF-8 checked with the event it is in; the later of two events with one identity wins, in the earlier place', () => {
    const prefix = Buffer.from('[{"metric":"a::string","value":"ok"}, {"metric":"a::string","value":"');
    const bad = Buffer.concat([prefix, Buffer.from([0xe2, 0x28, 0xa1]), Buffer.from('"}]')]);
    expect(() => prepareIngest(bad, 1, 'MILLISECONDS', NOW)).toThrow(new IngestError(`event 1: the body is not valid UTF-8 (byte ${prefix.length}): send text encoded as UTF-8`));
    expect(() => prepareIngest(Buffer.from('{"metric":"a::number"}'), 1, 'MILLISECONDS', NOW)).toThrow('the body must be a JSON array of events');
    expect(() => prepareIngest(Buffer.from('[{"metric":'), 1, 'MILLISECONDS', NOW)).toThrow('the body is not valid JSON');
    const rows = prepareIngest(Buffer.from(JSON.stringify([
      { timestamp: 1, metric: 'a::number', value: 1, source: 's' },
      { timestamp: 2, metric: 'a::number', value: 2 },
      { timestamp: 1, metric: 'a::number', value: 3, source: 's' },
    ])), 1, 'MILLISECONDS', NOW);
    expect(rows.map((r) => r[4])).toEqual(['3', '2']);
  });

  test('finding invalid UTF-8 and the array element it is in', () => {
    expect(firstInvalidUtf8(Buffer.from('aé😀'))).toBe(-1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80]))).toBe(1); // overlong
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1); // a surrogate
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xf0, 0x9f, 0x98]))).toBe(1); // cut short
    const body = Buffer.from('[{"a":"x,]"}, [1,2], {"b":"\\"},"} ,3]');
    expect(arrayIndexAt(body, body.indexOf('x'))).toBe(0);
    expect(arrayIndexAt(body, body.indexOf('2'))).toBe(1);
    expect(arrayIndexAt(body, body.indexOf('b'))).toBe(2);
    expect(arrayIndexAt(body, body.indexOf('3'))).toBe(3);
  });
});
