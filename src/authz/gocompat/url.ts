// net/url's PathUnescape and ParseQuery (Go 1.17+), which the reference uses for parsed_path,
// parsed_query and form bodies. Unescaping works on UTF-8 bytes as Go does, so %-escapes of
// non-ASCII bytes combine into characters and stray bytes show as U+FFFD, one per byte.
import { Buffer } from 'node:buffer';
import { decodeUtf8, GoError, hexDigit, quote } from './text.js';

const PERCENT = 0x25;
const PLUS = 0x2b;

/** url.PathUnescape: %XX escapes only; '+' stays '+'. */
export function pathUnescape(s: string): string {
  return s.indexOf('%') < 0 ? s : unescape(s, false);
}

/** url.QueryUnescape: %XX escapes, and '+' is a space. */
export function queryUnescape(s: string): string {
  return s.indexOf('%') < 0 && s.indexOf('+') < 0 ? s : unescape(s, true);
}

/**
 * url.ParseQuery: every key maps to the list of its values in order. Go keeps parsing after a bad
 * pair and returns the first unescape error, except that a ';' anywhere wins (its error is set
 * unconditionally), so the same rule applies here.
 */
export function parseQuery(query: string): Record<string, string[]> {
  const values: Record<string, string[]> = Object.create(null);
  if (query === '') return values;
  if (query.indexOf(';') >= 0) throw new GoError('invalid semicolon separator in query');
  let firstError: GoError | undefined;
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    if (end > start) {
      try {
        addPair(values, query.slice(start, end));
      } catch (err) {
        if (!(err instanceof GoError)) throw err;
        firstError ??= err;
      }
    }
    start = end + 1;
  }
  if (firstError) throw firstError;
  return values;
}

function addPair(values: Record<string, string[]>, pair: string): void {
  const eq = pair.indexOf('=');
  const key = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
  const value = eq < 0 ? '' : queryUnescape(pair.slice(eq + 1));
  const list = values[key];
  if (list) list.push(value);
  else values[key] = [value];
}

function unescape(s: string, plusIsSpace: boolean): string {
  const b = Buffer.from(s, 'utf8');
  let w = 0;
  for (let r = 0; r < b.length; ) {
    const c = b[r] as number;
    if (c === PERCENT) {
      const hi = hexDigit(b[r + 1]);
      const lo = hexDigit(b[r + 2]);
      if (hi < 0 || lo < 0) throw new GoError(`invalid URL escape ${quote(b.subarray(r, r + 3))}`);
      b[w++] = (hi << 4) | lo;
      r += 3;
    } else {
      b[w++] = plusIsSpace && c === PLUS ? 0x20 : c;
      r++;
    }
  }
  return decodeUtf8(b.subarray(0, w));
}
