/**
 * The size bounds of SPEC §8, checked on the filter JSON before it is parsed or compiled, so a huge
 * filter costs the server one linear walk and never reaches a database: not "too many SQL variables",
 * not a params column too small, not a 20 000-term OR held in the pool.
 */

/** JSON text of the filter, in UTF-8 bytes. */
export const MAX_FILTER_BYTES = 64 * 1024;
/** Operators in all, `_and`/`_or`/`_not` included (`_options` is part of its `_regex`). */
export const MAX_FILTER_OPERATORS = 1000;
/** Values of every `_in` (and `_withAnyTag`) list together. */
export const MAX_FILTER_IN_VALUES = 10_000;
/** SQLite stops at 32 766 bound parameters a statement; the export's datasets and metrics need some too. */
export const MAX_FILTER_SQL_PARAMS = 20_000;

type Fail = (message: string) => never;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkFilterSize(filter: unknown, fail: Fail): void {
  const bytes = Buffer.byteLength(JSON.stringify(filter) ?? '', 'utf8');
  if (bytes > MAX_FILTER_BYTES) {
    fail(`filter: ${bytes} bytes of JSON; at most ${MAX_FILTER_BYTES} (64 KB) are allowed: split the export or use _in lists`);
  }
  const { operators, values } = filterSize(filter);
  if (operators > MAX_FILTER_OPERATORS) {
    fail(`filter: ${operators} operators; at most ${MAX_FILTER_OPERATORS} are allowed (one _in with many values counts once)`);
  }
  if (values > MAX_FILTER_IN_VALUES) {
    fail(`filter: ${values} _in/_withAnyTag values in all; at most ${MAX_FILTER_IN_VALUES} are allowed`);
  }
}

/** Operators and list values of a filter: what the work per row grows with. */
export function filterSize(filter: unknown): { operators: number; values: number } {
  let operators = 0;
  let values = 0;
  // Depth is bounded by the parser (and by the 64 KB above); an explicit stack keeps this walk flat.
  const stack: unknown[] = [filter];
  while (stack.length) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      stack.push(...node);
      continue;
    }
    if (!isObject(node)) continue;
    for (const [key, v] of Object.entries(node)) {
      if (key.startsWith('_') && key !== '_options') operators++;
      if ((key === '_in' || key === '_withAnyTag') && Array.isArray(v)) values += v.length;
      else if (key === '_and' || key === '_or' || key === '_not' || !key.startsWith('_')) stack.push(v);
    }
  }
  return { operators, values };
}

export function checkSqlParams(count: number, fail: Fail): void {
  if (count > MAX_FILTER_SQL_PARAMS) {
    fail(`filter: it compiles to ${count} SQL parameters; at most ${MAX_FILTER_SQL_PARAMS} are allowed: use fewer polygon points or operators`);
  }
}
