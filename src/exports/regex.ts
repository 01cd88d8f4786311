/**
 * Regular expressions users send (filter `_regex`, the export-name filter) run with a bounded cost:
 * - in this process, in the export runner and in SQLite's `sluice_regexp`: RE2, whose matching time is
 *   linear in the text, so no pattern can backtrack for seconds (`(a+)+$` included);
 * - on MariaDB, PCRE2 with a match limit written into the pattern (`(*LIMIT_MATCH=…)`), so a row costs at
 *   most that many steps; a row that reaches it is reported by MariaDB as warning 1139, which the runner
 *   turns into a failed export (see `regexLimitHit`) instead of a row silently left out.
 * The language is what both JavaScript (the `u` and `s` flags) and RE2 accept: look-around and
 * back-references are refused, because RE2 cannot run them in bounded time.
 */
import RE2 from 're2';

/** PCRE2 steps one row's match may take on MariaDB: about 2 ms of CPU (measured), far above what a plain pattern needs on values of ordinary size. */
export const PCRE_MATCH_LIMIT = 10_000;
/** MariaDB's warning "Regex error 'match limit exceeded'" (ER_REGEXP_ERROR). */
export const MARIADB_REGEX_WARNING = 1139;

/** A pattern a user sent that cannot be run; the message names the pattern and why. */
export class RegexError extends Error {}

// JavaScript's \s (with `u`) is wider than RE2's: spelled out, RE2 matches exactly what JavaScript matches.
const JS_SPACE = '\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}';

/** The pattern (valid JavaScript) as RE2 must see it to mean the same: only \s and \S differ. */
function re2Source(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[++i] ?? '';
      if (next === 's') out += inClass ? JS_SPACE : `[${JS_SPACE}]`;
      else if (next === 'S' && !inClass) out += `[^${JS_SPACE}]`;
      else if (next === 'S') throw new RegexError('\\S inside [...] is not supported');
      else out += c + next;
      continue;
    }
    if (inClass && c === ']') inClass = false;
    else if (!inClass && c === '[') inClass = true;
    out += c;
  }
  return out;
}

const cache = new Map<string, RE2>();

/**
 * The compiled matcher; throws RegexError when JavaScript or RE2 refuses the pattern, with the reason in
 * the words of the engine that refused it (look-behind: "invalid perl operator: (?<=").
 */
export function boundedRegex(pattern: string, ci: boolean): RE2 {
  const key = `${ci ? 'i' : '-'}${pattern}`;
  let re = cache.get(key);
  if (re) return re;
  try {
    // Compiling is not matching: V8 checks the syntax in time linear in the pattern.
    new RegExp(pattern, 'su');
  } catch (err) {
    throw new RegexError(`invalid pattern: ${(err as Error).message}`);
  }
  try {
    re = new RE2(re2Source(pattern), ci ? 'sui' : 'su');
  } catch (err) {
    if (err instanceof RegexError) throw err;
    const why = (err as Error).message;
    const hint = /\(\?<?[=!]|\\[1-9k]/.test(pattern) ? ' (look-ahead, look-behind and back-references cannot run in bounded time)' : '';
    throw new RegexError(`pattern ${JSON.stringify(pattern)} cannot run in bounded time: ${why}${hint}`);
  }
  if (cache.size > 500) cache.clear();
  cache.set(key, re);
  return re;
}

/** The pattern for MariaDB's REGEXP: the caller's flags, then the pattern, behind a per-row step limit. */
export function limitedPcre(flags: string, pattern: string): string {
  return `(*LIMIT_MATCH=${PCRE_MATCH_LIMIT})${flags}${pattern}`;
}

/** The `_regex` patterns of a filter, in the order they appear, for messages that name them. */
export function regexPatternsOf(filter: unknown): string[] {
  const out: string[] = [];
  const stack: unknown[] = [filter];
  while (stack.length) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...[...node].reverse());
    else if (typeof node === 'object' && node !== null) {
      for (const [key, v] of Object.entries(node)) {
        if (key === '_regex' && typeof v === 'string') out.push(v);
        else stack.push(v);
      }
    }
  }
  return out;
}

/** Why an export stops when MariaDB's PCRE2 gave up on a row: the row would otherwise be dropped unseen. */
export function regexLimitMessage(filter: unknown, dryRun = false): string {
  const patterns = regexPatternsOf(filter).map((p) => JSON.stringify(p)).join(', ');
  const outcome = dryRun ? 'an export with this filter would stop rather than leave rows out silently' : 'rather than leave rows out silently the export stopped';
  return `the filter's _regex ${patterns} reached the regex engine's limit of ${PCRE_MATCH_LIMIT} steps on at least one row, ` +
    `so that row could not be tested; ${outcome}. Simplify the pattern ` +
    '(nested repetition such as (a+)+ makes MariaDB backtrack) or narrow the filter with _startsWith or _eq';
}
