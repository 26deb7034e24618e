// units.parse and units.parse_bytes. Go OPA computes the first with exact rationals (big.Rat) and
// the second with 64-bit-mantissa floats (big.Float); both are reproduced with BigInt arithmetic.
import { BuiltinError, integerResult, stringOperand, type BuiltinFn } from './values.js';

/** A rational number p/q with q > 0. */
interface Rational {
  p: bigint;
  q: bigint;
}

const MAX_EXPONENT_DIGITS = 6;

/** Go OPA's extractNumAndUnit: the leading number (digits, '.', exponent) and the unit after it. */
function splitNumberAndUnit(s: string, name: string): [string, string] {
  const isDigit = (c: string): boolean => c >= '0' && c <= '9';
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (!isDigit(c) && c !== '.' && c !== 'e' && c !== 'E' && c !== '+' && c !== '-') return [s.slice(0, i), s.slice(i)];
    if (c === 'e' || c === 'E') {
      const next = s.charAt(i + 1);
      if (i === s.length - 1 || (!isDigit(next) && next !== '+' && next !== '-')) return [s.slice(0, i), s.slice(i)];
      if (next === '+' || next === '-') i++;
      let end = i + 1;
      while (end < s.length && isDigit(s.charAt(end))) end++;
      if (end - (i + 1) > MAX_EXPONENT_DIGITS) throw new BuiltinError(`${name}: exponent too large`);
    }
  }
  return [s, ''];
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** A decimal literal as big.Rat.SetString / big.Float.SetString read it; undefined when not a number. */
function parseRational(num: string): Rational | undefined {
  const m = DECIMAL.exec(num);
  if (m === null) return undefined;
  const [, sign = '', whole = '', frac = '', exp = '0'] = m;
  if (whole === '' && frac === '') return undefined;
  let p = BigInt(whole + frac || '0');
  let q = 10n ** BigInt(frac.length);
  const e = Number(exp);
  if (e >= 0) p *= 10n ** BigInt(e);
  else q *= 10n ** BigInt(-e);
  return { p: sign === '-' ? -p : p, q };
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** Rounds |p/q| to a `prec`-bit mantissa, half to even: returns m and e with value = m * 2^e. */
function roundToPrecision(p: bigint, q: bigint, prec: number): { m: bigint; e: number } {
  if (p === 0n) return { m: 0n, e: 0 };
  let e = bitLength(p) - bitLength(q) - prec;
  let num = e < 0 ? p << BigInt(-e) : p;
  let den = e > 0 ? q << BigInt(e) : q;
  if (num / den >= 1n << BigInt(prec)) {
    e++;
    if (e > 0) den = q << BigInt(e);
    else num = p << BigInt(-e);
  } else if (num / den < 1n << BigInt(prec - 1)) {
    e--;
    if (e < 0) num = p << BigInt(-e);
    else den = q << BigInt(e);
  }
  let m = num / den;
  const rem = num - m * den;
  if (2n * rem > den || (2n * rem === den && (m & 1n) === 1n)) m++;
  if (m === 1n << BigInt(prec)) return { m: m >> 1n, e: e + 1 };
  return { m, e };
}

const FLOAT_PRECISION = 64;

/** big.Float (64-bit mantissa) product of the number and an integer multiplier, truncated to an integer. */
function floatTimesInteger(r: Rational, multiplier: bigint): bigint {
  const negative = r.p < 0n;
  const x = roundToPrecision(negative ? -r.p : r.p, r.q, FLOAT_PRECISION);
  const product = roundToPrecision(x.m * multiplier, 1n, FLOAT_PRECISION);
  const e = product.e + x.e;
  const whole = e >= 0 ? product.m << BigInt(e) : product.m >> BigInt(-e);
  return negative ? -whole : whole;
}

/** big.Rat.FloatString(10): ten decimals, the last rounded half away from zero. */
function ratFloatString10(r: Rational): number {
  const negative = r.p < 0n;
  const p = negative ? -r.p : r.p;
  const scaled = p * 10n ** 10n;
  let units = scaled / r.q;
  if (2n * (scaled - units * r.q) >= r.q) units++;
  const text = units.toString().padStart(11, '0');
  return Number(`${negative ? '-' : ''}${text.slice(0, -10)}.${text.slice(-10)}`);
}

const KI = 1n << 10n;

function binaryUnit(power: number): bigint {
  return KI ** BigInt(power);
}

function decimalUnit(power: number): bigint {
  return 1000n ** BigInt(power);
}

/** The float64 0.001 exactly, which is what Go OPA multiplies by for the "m" (milli) suffix. */
const MILLI_AS_FLOAT: Rational = { p: 1152921504606847n, q: 1n << 60n };

function integer(n: bigint): Rational {
  return { p: n, q: 1n };
}

const SI_PREFIXES = ['k', 'm', 'g', 't', 'p', 'e'];

/** units.parse's suffixes: both cases for each prefix, except m (milli) against M (mega). */
const SI_UNITS: ReadonlyMap<string, Rational> = new Map([
  ['', integer(1n)],
  ['m', MILLI_AS_FLOAT],
  ['M', integer(decimalUnit(2))],
  ...SI_PREFIXES.flatMap((prefix, i): Array<[string, Rational]> => {
    const upper = prefix.toUpperCase();
    const binary: Array<[string, Rational]> = [
      [`${prefix}i`, integer(binaryUnit(i + 1))],
      [`${upper}i`, integer(binaryUnit(i + 1))],
    ];
    if (prefix === 'm') return binary;
    return [...binary, [prefix, integer(decimalUnit(i + 1))], [upper, integer(decimalUnit(i + 1))]];
  }),
]);

const BYTE_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['', 1n],
  ...SI_PREFIXES.flatMap((u, i): Array<[string, bigint]> => [
    [`${u}b`, decimalUnit(i + 1)],
    [u, decimalUnit(i + 1)],
    [`${u}ib`, binaryUnit(i + 1)],
    [`${u}i`, binaryUnit(i + 1)],
  ]),
]);

function unitsParse(raw: string): number | bigint {
  const name = 'units.parse';
  const s = raw.replaceAll('"', '');
  if (s.includes(' ')) throw new BuiltinError(`${name}: spaces not allowed in resource strings`);
  const [num, rawUnit] = splitNumberAndUnit(s, name);
  if (num === '') throw new BuiltinError(`${name}: no amount provided`);
  // Only the letters after the first are case-folded, so "m" (milli) and "M" (mega) stay apart.
  const unit = rawUnit.length > 1 ? rawUnit.charAt(0) + rawUnit.slice(1).toLowerCase() : rawUnit;
  const factor = SI_UNITS.get(unit);
  if (factor === undefined) throw new BuiltinError(`${name}: unit ${unit} not recognized`);
  const r = parseRational(num);
  if (r === undefined) throw new BuiltinError(`${name}: could not parse amount to a number`);
  const product = { p: r.p * factor.p, q: r.q * factor.q };
  if (product.p % product.q === 0n) return integerResult(product.p / product.q);
  return ratFloatString10(product);
}

function unitsParseBytes(raw: string): number | bigint {
  const name = 'units.parse_bytes';
  const s = raw.toLowerCase().replaceAll('"', '');
  if (s.includes(' ')) throw new BuiltinError(`${name}: spaces not allowed in resource strings`);
  const [num, unit] = splitNumberAndUnit(s, name);
  if (num === '') throw new BuiltinError(`${name}: no byte amount provided`);
  const multiplier = BYTE_UNITS.get(unit);
  if (multiplier === undefined) throw new BuiltinError(`${name}: byte unit ${unit} not recognized`);
  const r = parseRational(num);
  if (r === undefined) throw new BuiltinError(`${name}: could not parse byte amount to a number`);
  return integerResult(floatTimesInteger(r, multiplier));
}

export const unitsBuiltins: ReadonlyArray<readonly [string, BuiltinFn]> = [
  ['units.parse', (s) => unitsParse(stringOperand(s, 1))],
  ['units.parse_bytes', (s) => unitsParseBytes(stringOperand(s, 1))],
];
