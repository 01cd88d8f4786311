import { eventOrder, seriesFilter } from '../../src/exports/query/ordering';

describe('latest and order query parts', () => {
  test('DESC reverses the tie-break too; anything else is the ascending order', () => {
    expect(eventOrder('DESC')).toBe('ts DESC, id DESC');
    expect(eventOrder('ASC')).toBe('ts, id');
    expect(eventOrder(undefined)).toBe('ts, id');
  });

  test('seriesFilter keeps the conditions on dataset, source and metric that must all hold', () => {
    expect(seriesFilter(null)).toBeNull();
    expect(seriesFilter({})).toBeNull();
    expect(seriesFilter({ value: { _gt: 3 } })).toBeNull();
    expect(seriesFilter({ source: { _eq: 'a' }, value: { _gt: 3 } })).toEqual({ _and: [{ source: { _eq: 'a' } }] });
    expect(seriesFilter({ _and: [{ metric: { _startsWith: 't' } }, { _and: [{ dataset: { _in: ['1'] } }, { tags: { _withTag: 'x' } }] }] })).toEqual({
      _and: [{ metric: { _startsWith: 't' } }, { dataset: { _in: ['1'] } }],
    });
    // An _or or _not is kept whole only when every branch is on series fields.
    expect(seriesFilter({ _or: [{ source: { _eq: 'a' } }, { _not: { metric: { _eq: 'm::number' } } }] })).toEqual({
      _and: [{ _or: [{ source: { _eq: 'a' } }, { _not: { metric: { _eq: 'm::number' } } }] }],
    });
    expect(seriesFilter({ _or: [{ source: { _eq: 'a' } }, { value: { _eq: 1 } }] })).toBeNull();
    expect(seriesFilter({ _not: { elevation: { _gt: 1 } } })).toBeNull();
  });
});
