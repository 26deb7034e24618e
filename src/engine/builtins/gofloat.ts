// strconv.AppendFloat for the 'e', 'E', 'f', 'g' and 'G' formats, from the exact binary value of a
// float64 (so ties round half-to-even on the true value, as Go does, unlike toFixed).

interface Decimal {
  /** Significant digits, no leading or trailing zeros; '' for zero. */
  d: string;
  /** Position of the decimal point relative to the start of d. */
  dp: number;
}

const FLOAT_VIEW = new DataView(new ArrayBuffer(8));

/** The exact decimal expansion of a finite, non-negative float64. */
function exactDecimal(x: number): Decimal {
  FLOAT_VIEW.setFloat64(0, x);
  const bits = FLOAT_VIEW.getBigUint64(0);
  const biasedExp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let exp: number;
  if (biasedExp === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = biasedExp - 1075;
  }
  if (mant === 0n) return { d: '', dp: 0 };
  let digits: string;
  let dp: number;
  if (exp >= 0) {
    digits = (mant << BigInt(exp)).toString();
    dp = digits.length;
  } else {
    digits = (mant * 5n ** BigInt(-exp)).toString();
    dp = digits.length + exp;
  }
  return trim({ d: digits, dp });
}

function trim(dec: Decimal): Decimal {
  const lead = dec.d.length - dec.d.replace(/^0+/, '').length;
  const d = dec.d.slice(lead).replace(/0+$/, '');
  return d === '' ? { d: '', dp: 0 } : { d, dp: dec.dp - lead };
}

/** Rounds to nd significant digits, half to even on the exact value. */
function roundDigits(dec: Decimal, nd: number): Decimal {
  if (nd < 0) return { d: '', dp: 0 };
  if (nd >= dec.d.length) return dec;
  const next = dec.d.charCodeAt(nd) - 48;
  const tieOrMore = next > 5 || (next === 5 && nd + 1 < dec.d.length);
  const exactHalf = next === 5 && nd + 1 === dec.d.length;
  const prevOdd = nd > 0 && (dec.d.charCodeAt(nd - 1) - 48) % 2 === 1;
  const up = tieOrMore || (exactHalf && prevOdd);
  if (!up) return trim({ d: dec.d.slice(0, nd), dp: dec.dp });
  let i = nd - 1;
  while (i >= 0 && dec.d.charAt(i) === '9') i--;
  if (i < 0) return { d: '1', dp: dec.dp + 1 };
  return trim({ d: dec.d.slice(0, i) + String(dec.d.charCodeAt(i) - 47), dp: dec.dp });
}

/** The shortest digits that read back as x (JavaScript and Go agree on these), as a float64 or float32. */
function shortestDecimal(x: number, bits: 32 | 64): Decimal {
  if (x === 0) return { d: '', dp: 0 };
  let text = x.toExponential();
  if (bits === 32) {
    const single = Math.fround(x);
    for (let p = 1; p <= 9; p++) {
      text = single.toExponential(p - 1);
      if (Math.fround(Number(text)) === single) break;
    }
  }
  const [mantissa = '0', exp = '0'] = text.split('e');
  const d = mantissa.replace('.', '');
  return trim({ d, dp: Number(exp) + 1 });
}

function fmtE(dec: Decimal, prec: number, verb: string): string {
  let out = dec.d === '' ? '0' : dec.d.charAt(0);
  if (prec > 0) out += '.' + dec.d.slice(1, prec + 1).padEnd(prec, '0');
  const exp = dec.d === '' ? 0 : dec.dp - 1;
  const abs = Math.abs(exp);
  return out + verb + (exp < 0 ? '-' : '+') + (abs < 10 ? '0' + String(abs) : String(abs));
}

function fmtF(dec: Decimal, prec: number): string {
  let out = dec.dp > 0 ? dec.d.slice(0, dec.dp).padEnd(dec.dp, '0') : '0';
  if (prec > 0) {
    let frac = '';
    for (let i = 0; i < prec; i++) {
      const j = dec.dp + i;
      frac += j >= 0 && j < dec.d.length ? dec.d.charAt(j) : '0';
    }
    out += '.' + frac;
  }
  return out;
}

/** Go's strconv.FormatFloat(x, verb, prec, bits) for verb in e, E, f, g, G; prec < 0 means shortest. */
export function formatGoFloat(x: number, verb: string, prec: number, bits: 32 | 64 = 64): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const abs = Math.abs(x);
  const shortest = prec < 0;
  const lower = verb.toLowerCase();
  let dec: Decimal;
  let p = prec;
  if (shortest) {
    dec = shortestDecimal(abs, bits);
    if (lower === 'e') p = Math.max(dec.d.length - 1, 0);
    else if (lower === 'f') p = Math.max(dec.d.length - dec.dp, 0);
    else p = dec.d.length;
  } else {
    const exact = exactDecimal(abs);
    if (lower === 'e') dec = roundDigits(exact, p + 1);
    else if (lower === 'f') dec = roundDigits(exact, exact.dp + p);
    else {
      if (p === 0) p = 1;
      dec = roundDigits(exact, p);
    }
  }
  if (lower === 'e') return sign + fmtE(dec, p, verb);
  if (lower === 'f') return sign + fmtF(dec, p);
  return sign + fmtG(dec, p, shortest, verb === 'G' ? 'E' : 'e');
}

function fmtG(dec: Decimal, prec: number, shortest: boolean, expChar: string): string {
  let eprec = prec;
  if (eprec > dec.d.length && dec.d.length >= dec.dp) eprec = dec.d.length;
  if (shortest) eprec = 6;
  const exp = dec.dp - 1;
  if (exp < -4 || exp >= eprec) {
    const p = prec > dec.d.length ? dec.d.length : prec;
    return fmtE(dec, p - 1, expChar);
  }
  const p = prec > dec.dp ? dec.d.length : prec;
  return fmtF(dec, Math.max(p - dec.dp, 0));
}
