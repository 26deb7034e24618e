// strconv.ParseInt(s, 10, 64) with Go's error texts: the reference parses content-length and a
// decision's http_status with it, and answers with its message when that fails.
import { GoError, quote } from './text.js';

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);
const MAX_UINT64 = (1n << 64n) - 1n;
// Past this many digits a value may leave the range where JS numbers are exact.
const SAFE_DIGITS = 15;

/**
 * The value of `s` as ParseInt(s, 10, 64) reads it. Values beyond 2^53 come back rounded, which is
 * harmless for the callers (they compare against a byte count or a status code table).
 */
export function parseInt64(s: string): number {
  let i = 0;
  let negative = false;
  if (s.charCodeAt(0) === 0x2b /* + */ || s.charCodeAt(0) === 0x2d /* - */) {
    negative = s.charCodeAt(0) === 0x2d;
    i = 1;
  }
  if (i === s.length) throw syntaxError(s);
  if (s.length - i <= SAFE_DIGITS) {
    let n = 0;
    for (; i < s.length; i++) {
      const d = s.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) throw syntaxError(s);
      n = n * 10 + d;
    }
    return negative ? -n : n;
  }
  return Number(parseLong(s, i, negative));
}

// Go reads digit by digit and stops at the first problem: an overflow before a bad character is
// reported as out of range, a bad character before an overflow as invalid syntax.
function parseLong(s: string, start: number, negative: boolean): bigint {
  let n = 0n;
  for (let i = start; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) throw syntaxError(s);
    n = n * 10n + BigInt(d);
    if (n > MAX_UINT64) throw rangeError(s);
  }
  if (negative ? -n < MIN_INT64 : n > MAX_INT64) throw rangeError(s);
  return negative ? -n : n;
}

function syntaxError(s: string): GoError {
  return new GoError(`strconv.ParseInt: parsing ${quote(s)}: invalid syntax`);
}

function rangeError(s: string): GoError {
  return new GoError(`strconv.ParseInt: parsing ${quote(s)}: value out of range`);
}
