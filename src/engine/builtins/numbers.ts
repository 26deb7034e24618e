// Go OPA's readings of a number's literal text. A Rego number is its text (ast.Number is a json.Number),
// and each builtin reads it its own way: as an int64 if the text is one (util.Atoi64), as a float64
// (strconv.ParseFloat), as a 64-bit big.Float (time builtins), or compares two texts exactly.

const INT64_LIMIT = 1n << 63n;

/** util.Atoi64: an optional sign and at most 19 digits that fit an int64, nothing else. */
export function atoi64(text: string): bigint | undefined {
  if (!/^[-+]?\d{1,19}$/.test(text)) return undefined;
  const i = BigInt(text);
  return i >= -INT64_LIMIT && i < INT64_LIMIT ? i : undefined;
}

/** json.Number.Float64 (strconv.ParseFloat): undefined when the value overflows a float64; underflow is 0. */
export function parseFloat64(text: string): number | undefined {
  const f = Number(text);
  return Number.isFinite(f) ? f : undefined;
}

/** big.Int.SetString(text, 10): an optional sign and digits only. */
export function parseBigInt(text: string): bigint | undefined {
  return /^[-+]?\d+$/.test(text) ? BigInt(text) : undefined;
}

/** The exact value of a number's text: (-1)^neg * coef * 10^exp. */
interface Decimal {
  neg: boolean;
  coef: bigint;
  exp: number;
}

const NUMBER_TEXT = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/;

function decimal(text: string): Decimal {
  const m = NUMBER_TEXT.exec(text);
  if (m === null) throw new RangeError(`not a number: ${text}`);
  const frac = m[3] ?? '';
  const coef = BigInt((m[2] ?? '') + frac || '0');
  return { neg: m[1] === '-' && coef !== 0n, coef, exp: Number(m[4] ?? '0') - frac.length };
}

function digitCount(n: bigint): number {
  return n.toString().length;
}

/** Compares |a| and |b| exactly; the exponents are only scaled once the magnitudes are known to be close. */
function compareMagnitudes(a: Decimal, b: Decimal): number {
  if (a.coef === 0n || b.coef === 0n) return a.coef === b.coef ? 0 : a.coef === 0n ? -1 : 1;
  const magA = digitCount(a.coef) + a.exp;
  const magB = digitCount(b.coef) + b.exp;
  if (magA !== magB) return magA < magB ? -1 : 1;
  const shift = a.exp - b.exp;
  const x = shift > 0 ? a.coef * 10n ** BigInt(shift) : a.coef;
  const y = shift < 0 ? b.coef * 10n ** BigInt(-shift) : b.coef;
  return x === y ? 0 : x < y ? -1 : 1;
}

function compareDecimals(a: Decimal, b: Decimal): number {
  if (a.neg !== b.neg) return a.neg ? -1 : 1;
  const c = compareMagnitudes(a, b);
  return a.neg ? -c : c;
}

/** Go's strings.TrimRight(s, ".0") applied to texts with a point, and whether a point is left. */
function trimPointZeros(text: string): [string, boolean] {
  if (!text.includes('.')) return [text, false];
  const trimmed = text.replace(/[.0]+$/, '');
  return trimmed === text ? [text, false] : [trimmed, trimmed.includes('.')];
}

/**
 * ast.NumberCompare, quirks included: texts equal after trimming trailing '.' and '0' characters of a
 * text with a point compare equal (so 10.0 equals 1, as in Go OPA 1.19.1); two point-bearing texts with the
 * same float64 are equal; everything else compares exactly.
 */
export function compareNumberTexts(x: string, y: string): number {
  const [xs, xIsFloat] = trimPointZeros(x);
  const [ys, yIsFloat] = trimPointZeros(y);
  if (xs === ys) return 0;
  const xi = atoi64(x);
  const yi = xi === undefined ? undefined : atoi64(y);
  if (xi !== undefined && yi !== undefined) return xi === yi ? 0 : xi < yi ? -1 : 1;
  if (xIsFloat && yIsFloat) {
    const xf = parseFloat64(x);
    if (xf !== undefined && xf === parseFloat64(y)) return 0;
  }
  return compareDecimals(decimal(x), decimal(y));
}

const MANTISSA_BITS = 64n;

function bitLength(n: bigint): bigint {
  return BigInt(n.toString(2).length);
}

/**
 * Go OPA's time builtins read a timestamp as big.Float (64-bit mantissa) and accept it when that value is
 * an int64 exactly: so 1.7e18 and 1700000000000000000.0 are accepted, 1.5 is not, and a fraction below
 * the mantissa's last bit (1.0000000000000000000001) is rounded away first.
 */
export function roundedInt64(text: string): bigint | undefined {
  const { neg, coef, exp } = decimal(text);
  if (coef === 0n) return 0n;
  const magnitude = digitCount(coef) + exp;
  if (magnitude > 20) return undefined; // at least 1e20, beyond int64 whatever the rounding
  if (magnitude < -20) return undefined; // below 1e-20: rounds to itself, a fraction
  const num = exp >= 0 ? coef * 10n ** BigInt(exp) : coef;
  const den = exp >= 0 ? 1n : 10n ** BigInt(-exp);
  const rounded = roundToMantissa(num, den);
  if (rounded === undefined) return undefined;
  const i = neg ? -rounded : rounded;
  return i >= -INT64_LIMIT && i < INT64_LIMIT ? i : undefined;
}

/** num/den rounded half-to-even to MANTISSA_BITS significant bits; undefined unless that is an integer. */
function roundToMantissa(num: bigint, den: bigint): bigint | undefined {
  // Scale so that q = num * 2^shift / den has exactly MANTISSA_BITS bits before rounding.
  let shift = MANTISSA_BITS - (bitLength(num) - bitLength(den));
  const scaled = (s: bigint): [bigint, bigint] => {
    const n = s >= 0n ? num << s : num;
    const d = s >= 0n ? den : den << -s;
    return [n / d, n % d];
  };
  let [q, r] = scaled(shift);
  while (bitLength(q) > MANTISSA_BITS) [q, r] = scaled(--shift);
  while (bitLength(q) < MANTISSA_BITS) [q, r] = scaled(++shift);
  const d = shift >= 0n ? den : den << -shift;
  if (2n * r > d || (2n * r === d && (q & 1n) === 1n)) q += 1n;
  if (shift <= 0n) return q << -shift;
  const unit = 1n << shift;
  return q % unit === 0n ? q >> shift : undefined;
}
