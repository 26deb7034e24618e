// sprintf with Go's fmt.Sprintf semantics over the argument types Go OPA hands it: int64, *big.Int,
// float64 and string (every other Rego value arrives as its Rego text, e.g. `{"a": 1}` or `true`).
import { formatGoFloat } from './gofloat.js';
import { atoi64, parseBigInt, parseFloat64 } from './numbers.js';
import {
  arrayOperand,
  goQuote,
  goQuoteRune,
  INT64_MAX,
  INT64_MIN,
  RegoNumber,
  regoString,
  stringOperand,
  utf8Bytes,
  type BuiltinFn,
  type BuiltinValue,
} from './values.js';

type Arg =
  | { kind: 'int'; v: bigint }
  | { kind: 'big'; v: bigint }
  | { kind: 'float'; v: number }
  | { kind: 'string'; v: string };

const TYPE_NAMES: Readonly<Record<Arg['kind'], string>> = { int: 'int64', big: '*big.Int', float: 'float64', string: 'string' };

/**
 * Go OPA's reading of a number's text: an int64 when the text is one, a float64 when it has a point
 * (and fits), a *big.Int when it is all digits, else the text itself (so 1e21 is the string "1e21").
 */
function numberTextArg(text: string): Arg {
  const i = atoi64(text);
  if (i !== undefined) return { kind: 'int', v: i };
  if (text.includes('.')) {
    const f = parseFloat64(text);
    return f === undefined ? { kind: 'string', v: text } : { kind: 'float', v: f };
  }
  const big = parseBigInt(text);
  return big === undefined ? { kind: 'string', v: text } : { kind: 'big', v: big };
}

/** Go OPA's conversion of sprintf's operands into Go values. */
function toArg(v: BuiltinValue): Arg {
  if (typeof v === 'string') return { kind: 'string', v };
  if (typeof v === 'bigint') return { kind: v >= INT64_MIN && v <= INT64_MAX ? 'int' : 'big', v };
  // A plain number's text is an integer or a decimal with a point.
  if (typeof v === 'number') return Number.isSafeInteger(v) ? { kind: 'int', v: BigInt(v) } : { kind: 'float', v };
  if (v instanceof RegoNumber) return numberTextArg(v.text);
  return { kind: 'string', v: regoString(v) };
}

interface Flags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  plusV: boolean;
  sharpV: boolean;
  wid: number | undefined;
  prec: number | undefined;
}

function noFlags(): Flags {
  return { plus: false, minus: false, sharp: false, space: false, zero: false, plusV: false, sharpV: false, wid: undefined, prec: undefined };
}

function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** fmt's pad: width counts runes; zero padding only applies on the left. */
function pad(s: string, f: Flags): string {
  if (f.wid === undefined || f.wid === 0) return s;
  const width = f.wid - runeCount(s);
  if (width <= 0) return s;
  if (f.minus) return s + ' '.repeat(width);
  return (f.zero ? '0' : ' ').repeat(width) + s;
}

function padSpaces(s: string, f: Flags): string {
  return pad(s, { ...f, zero: false });
}

// ---- integers ----------------------------------------------------------------------------------

const INT_BASES: ReadonlyMap<string, number> = new Map([
  ['v', 10],
  ['d', 10],
  ['b', 2],
  ['o', 8],
  ['O', 8],
  ['x', 16],
  ['X', 16],
]);

/** fmt.fmtInteger for an int64 value. */
function fmtInteger(value: bigint, base: number, verb: string, f: Flags): string {
  const negative = value < 0n;
  const u = negative ? -value : value;
  let prec = 0;
  if (f.prec !== undefined) {
    prec = f.prec;
    if (prec === 0 && u === 0n) return ' '.repeat(Math.max(f.wid ?? 0, 0));
  } else if (f.zero && !f.minus && f.wid !== undefined) {
    prec = f.wid;
    if (negative || f.plus || f.space) prec--;
  }
  let digits = u.toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  digits = digits.padStart(prec, '0');
  if (f.sharp) {
    if (base === 2) digits = '0b' + digits;
    else if (base === 8 && digits.charAt(0) !== '0') digits = '0' + digits;
    else if (base === 16) digits = (verb === 'X' ? '0X' : '0x') + digits;
  }
  if (verb === 'O') digits = '0o' + digits;
  if (negative) digits = '-' + digits;
  else if (f.plus) digits = '+' + digits;
  else if (f.space) digits = ' ' + digits;
  return padSpaces(digits, f);
}

/** A rune from an integer: out-of-range values and surrogates become U+FFFD as in Go. */
function runeOf(v: bigint): number {
  if (v < 0n || v > 0x10ffffn) return 0xfffd;
  const r = Number(v);
  return r >= 0xd800 && r <= 0xdfff ? 0xfffd : r;
}

function fmtUnicode(v: bigint, f: Flags): string {
  const u = v < 0n ? v + (1n << 64n) : v;
  const prec = f.prec !== undefined && f.prec > 4 ? f.prec : 4;
  let out = 'U+' + u.toString(16).toUpperCase().padStart(prec, '0');
  if (f.sharp && u <= 0x10ffffn && /[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u.test(String.fromCodePoint(Number(u)))) {
    out += ` '${String.fromCodePoint(Number(u))}'`;
  }
  return padSpaces(out, f);
}

function formatInt(v: bigint, verb: string, f: Flags): string | undefined {
  const base = INT_BASES.get(verb);
  if (base !== undefined) return fmtInteger(v, base, verb, f);
  switch (verb) {
    case 'c':
      return pad(String.fromCodePoint(runeOf(v)), f);
    case 'q':
      return pad("'" + goQuoteRune(runeOf(v), f.plus, "'") + "'", f);
    case 'U':
      return fmtUnicode(v, f);
  }
  return undefined;
}

/** (*big.Int).Format. */
function formatBig(v: bigint, verb: string, f: Flags): string {
  const base = verb === 'b' ? 2 : verb === 'o' || verb === 'O' ? 8 : verb === 'd' || verb === 's' || verb === 'v' ? 10 : verb === 'x' || verb === 'X' ? 16 : 0;
  if (base === 0) return `%!${verb}(big.Int=${v.toString()})`;
  const plus = f.plus || f.plusV;
  const sharp = f.sharp || f.sharpV;
  const sign = v < 0n ? '-' : plus ? '+' : f.space ? ' ' : '';
  let prefix = '';
  if (sharp) prefix = verb === 'b' ? '0b' : verb === 'o' ? '0' : verb === 'x' ? '0x' : verb === 'X' ? '0X' : '';
  if (verb === 'O') prefix = '0o';
  let digits = (v < 0n ? -v : v).toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  let zeros = 0;
  if (f.prec !== undefined) {
    if (digits.length < f.prec) zeros = f.prec - digits.length;
    else if (digits === '0' && f.prec === 0) return '';
  }
  const length = sign.length + prefix.length + zeros + digits.length;
  let left = 0;
  let right = 0;
  if (f.wid !== undefined && length < f.wid) {
    const d = f.wid - length;
    if (f.minus) right = d;
    else if (f.zero && f.prec === undefined) zeros = d;
    else left = d;
  }
  return ' '.repeat(left) + sign + prefix + '0'.repeat(zeros) + digits + ' '.repeat(right);
}

// ---- floats ------------------------------------------------------------------------------------

const FLOAT_VERBS: ReadonlyMap<string, [string, number]> = new Map([
  ['v', ['g', -1]],
  ['g', ['g', -1]],
  ['G', ['G', -1]],
  ['e', ['e', 6]],
  ['E', ['E', 6]],
  ['f', ['f', 6]],
  ['F', ['f', 6]],
]);

/** fmt.fmtFloat. */
function formatFloat(v: number, verb: string, f: Flags): string | undefined {
  const spec = FLOAT_VERBS.get(verb);
  if (spec === undefined) return undefined;
  const [fmt, defaultPrec] = spec;
  const prec = f.prec ?? defaultPrec;
  let num = formatGoFloat(v, fmt, prec);
  if (num.charAt(0) !== '-' && num.charAt(0) !== '+') num = '+' + num;
  if (f.space && num.charAt(0) === '+' && !f.plus) num = ' ' + num.slice(1);
  if (num.charAt(1) === 'I' || num.charAt(1) === 'N') {
    if (num.charAt(1) === 'N' && !f.space && !f.plus) num = num.slice(1);
    return padSpaces(num, f);
  }
  if (f.sharp) num = sharpFloat(num, fmt, prec);
  if (f.plus || num.charAt(0) !== '+') {
    if (f.zero && !f.minus && f.wid !== undefined && f.wid > num.length) return num.charAt(0) + '0'.repeat(f.wid - num.length) + num.slice(1);
    return pad(num, f);
  }
  return pad(num.slice(1), f);
}

/** '#' keeps the decimal point and, for %g, the trailing zeros up to the precision. */
function sharpFloat(signed: string, fmt: string, prec: number): string {
  let digits = fmt === 'g' || fmt === 'G' ? (prec === -1 ? 6 : prec) : 0;
  let num = signed;
  let tail = '';
  const e = num.search(/[eE]/);
  if (e >= 0) {
    tail = num.slice(e);
    num = num.slice(0, e);
  }
  let sawNonzero = false;
  for (const ch of num.slice(1)) {
    if (ch === '.') continue;
    if (ch !== '0') sawNonzero = true;
    if (sawNonzero) digits--;
  }
  if (!num.includes('.')) {
    if (num.length === 2 && num.charAt(1) === '0') digits--;
    num += '.';
  }
  if (digits > 0) num += '0'.repeat(digits);
  return num + tail;
}

// ---- strings -----------------------------------------------------------------------------------

function truncateRunes(s: string, f: Flags): string {
  if (f.prec === undefined) return s;
  let out = '';
  let n = f.prec;
  for (const ch of s) {
    if (n-- <= 0) break;
    out += ch;
  }
  return out;
}

function canBackquote(s: string): boolean {
  return !/[`\u0000-\u0008\u000a-\u001f\u007f\ufeff]/.test(s);
}

/** fmt.fmtSbx for a string. */
function hexString(s: string, upper: boolean, f: Flags): string {
  let bytes = utf8Bytes(s);
  if (f.prec !== undefined && f.prec < bytes.length) bytes = bytes.subarray(0, f.prec);
  if (bytes.length === 0) return pad('', f);
  const x = upper ? '0X' : '0x';
  const parts = [...bytes].map((b) => {
    const h = b.toString(16).padStart(2, '0');
    return upper ? h.toUpperCase() : h;
  });
  let out: string;
  if (f.space) out = parts.map((p) => (f.sharp ? x + p : p)).join(' ');
  else out = (f.sharp ? x : '') + parts.join('');
  return pad(out, f);
}

function formatString(s: string, verb: string, f: Flags): string | undefined {
  switch (verb) {
    case 'v':
      return f.sharpV ? quoteString(s, f) : pad(truncateRunes(s, f), f);
    case 's':
      return pad(truncateRunes(s, f), f);
    case 'x':
    case 'X':
      return hexString(s, verb === 'X', f);
    case 'q':
      return quoteString(s, f);
  }
  return undefined;
}

function quoteString(s: string, f: Flags): string {
  const t = truncateRunes(s, f);
  if (f.sharp && canBackquote(t)) return pad('`' + t + '`', f);
  return pad(goQuote(t, f.plus), f);
}

// ---- printArg ----------------------------------------------------------------------------------

function printArg(arg: Arg, verb: string, f: Flags): string {
  if (verb === 'T') return pad(truncateRunes(TYPE_NAMES[arg.kind], f), f);
  if (verb === 'p') return badVerb(arg, verb, f);
  let out: string | undefined;
  switch (arg.kind) {
    case 'int':
      out = formatInt(arg.v, verb, f);
      break;
    case 'big':
      return formatBig(arg.v, verb, f);
    case 'float':
      out = formatFloat(arg.v, verb, f);
      break;
    case 'string':
      out = formatString(arg.v, verb, f);
      break;
  }
  return out ?? badVerb(arg, verb, f);
}

function badVerb(arg: Arg, verb: string, f: Flags): string {
  return `%!${verb}(${TYPE_NAMES[arg.kind]}=${printArg(arg, 'v', f)})`;
}

// ---- doPrintf ----------------------------------------------------------------------------------

const TOO_LARGE = 1e6;

interface Cursor {
  i: number;
  argNum: number;
  reordered: boolean;
  goodArgNum: boolean;
}

/** fmt's parsenum: digits at i, or undefined when none (or absurdly many). */
function parseNum(format: string, c: Cursor, end: number): number | undefined {
  let num = 0;
  let isNum = false;
  while (c.i < end && format.charAt(c.i) >= '0' && format.charAt(c.i) <= '9') {
    if (num > TOO_LARGE || num < -TOO_LARGE) {
      c.i = end;
      return undefined;
    }
    num = num * 10 + Number(format.charAt(c.i));
    isNum = true;
    c.i++;
  }
  return isNum ? num : undefined;
}

/** fmt's argNumber: an explicit "[n]" index; returns whether one was found. */
function argNumber(format: string, c: Cursor, numArgs: number): boolean {
  if (format.charAt(c.i) !== '[') return false;
  c.reordered = true;
  const close = format.indexOf(']', c.i + 1);
  if (format.length - c.i < 3 || close < 0) {
    c.i += 1;
    c.goodArgNum = false;
    return false;
  }
  const text = format.slice(c.i + 1, close);
  c.i = close + 1;
  if (!/^\d+$/.test(text) || text.length > 7) {
    c.goodArgNum = false;
    return false;
  }
  const index = Number(text) - 1;
  if (index >= 0 && index < numArgs) {
    c.argNum = index;
    return true;
  }
  c.goodArgNum = false;
  return true;
}

/** fmt's intFromArg: only an int64 argument can be a '*' width or precision. */
function intFromArg(args: Arg[], c: Cursor): number | undefined {
  const arg = args[c.argNum];
  if (arg === undefined) return undefined;
  c.argNum++;
  if (arg.kind !== 'int' || arg.v > BigInt(TOO_LARGE) || arg.v < -BigInt(TOO_LARGE)) return undefined;
  return Number(arg.v);
}

/** Go's fmt.Sprintf(format, args...). */
export function goSprintf(format: string, args: Arg[]): string {
  let out = '';
  const end = format.length;
  const c: Cursor = { i: 0, argNum: 0, reordered: false, goodArgNum: true };
  while (c.i < end) {
    c.goodArgNum = true;
    const pct = format.indexOf('%', c.i);
    if (pct < 0) {
      out += format.slice(c.i);
      break;
    }
    out += format.slice(c.i, pct);
    c.i = pct + 1;
    const f = noFlags();
    for (; c.i < end; c.i++) {
      const ch = format.charAt(c.i);
      if (ch === '#') f.sharp = true;
      else if (ch === '0') f.zero = true;
      else if (ch === '+') f.plus = true;
      else if (ch === '-') f.minus = true;
      else if (ch === ' ') f.space = true;
      else break;
    }
    let afterIndex = argNumber(format, c, args.length);
    if (format.charAt(c.i) === '*') {
      c.i++;
      f.wid = intFromArg(args, c);
      if (f.wid === undefined) out += '%!(BADWIDTH)';
      else if (f.wid < 0) {
        f.wid = -f.wid;
        f.minus = true;
        f.zero = false;
      }
      afterIndex = false;
    } else {
      f.wid = parseNum(format, c, end);
      if (afterIndex && f.wid !== undefined) c.goodArgNum = false;
    }
    if (c.i + 1 < end && format.charAt(c.i) === '.') {
      c.i++;
      if (afterIndex) c.goodArgNum = false;
      afterIndex = argNumber(format, c, args.length);
      if (format.charAt(c.i) === '*') {
        c.i++;
        f.prec = intFromArg(args, c);
        if (f.prec !== undefined && f.prec < 0) f.prec = undefined;
        if (f.prec === undefined) out += '%!(BADPREC)';
        afterIndex = false;
      } else {
        f.prec = parseNum(format, c, end) ?? 0;
      }
    }
    if (!afterIndex) afterIndex = argNumber(format, c, args.length);
    if (c.i >= end) {
      out += '%!(NOVERB)';
      break;
    }
    const cp = format.codePointAt(c.i) ?? 0;
    const verb = String.fromCodePoint(cp);
    c.i += verb.length;
    const arg = args[c.argNum];
    if (verb === '%') out += '%';
    else if (!c.goodArgNum) out += `%!${verb}(BADINDEX)`;
    else if (arg === undefined) out += `%!${verb}(MISSING)`;
    else {
      if (verb === 'v' || verb === 'w') {
        f.sharpV = f.sharp;
        f.sharp = false;
        f.plusV = f.plus;
        f.plus = false;
      }
      out += printArg(arg, verb, f);
      c.argNum++;
    }
  }
  if (!c.reordered && c.argNum < args.length) {
    const extra = args.slice(c.argNum).map((a) => `${TYPE_NAMES[a.kind]}=${printArg(a, 'v', noFlags())}`);
    out += `%!(EXTRA ${extra.join(', ')})`;
  }
  return out;
}

export const sprintfBuiltins: ReadonlyArray<readonly [string, BuiltinFn]> = [
  ['sprintf', (format, values) => goSprintf(stringOperand(format, 1), arrayOperand(values, 2).map(toArg))],
];
