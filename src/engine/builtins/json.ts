// JSON text -> BuiltinResult the way Go OPA decodes it (json.Decoder with UseNumber): integers keep
// every digit, so those beyond Number.MAX_SAFE_INTEGER become bigint instead of losing precision.
import { BuiltinError, setOwn, type BuiltinResult, type ResultObject } from './values.js';

// Only texts with a run this long can hold an integer JSON.parse would round.
const LONG_DIGIT_RUN = /\d{16}/;

export function parseJson(text: string): BuiltinResult {
  let parsed: BuiltinResult;
  try {
    parsed = JSON.parse(text) as BuiltinResult;
  } catch (e) {
    throw new BuiltinError(`invalid JSON: ${(e as Error).message}`);
  }
  return LONG_DIGIT_RUN.test(text) ? new ExactJsonReader(text).document() : parsed;
}

/** A second pass over text JSON.parse already accepted, reading numbers from their source digits. */
class ExactJsonReader {
  private pos = 0;
  constructor(private readonly text: string) {}

  document(): BuiltinResult {
    return this.value();
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text.charAt(this.pos))) this.pos++;
  }

  private value(): BuiltinResult {
    this.skipSpace();
    const c = this.text.charAt(this.pos);
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === 't') return this.literal('true', true);
    if (c === 'f') return this.literal('false', false);
    if (c === 'n') return this.literal('null', null);
    return this.number();
  }

  private literal(word: string, v: BuiltinResult): BuiltinResult {
    this.pos += word.length;
    return v;
  }

  private object(): BuiltinResult {
    const out: ResultObject = {};
    this.pos++;
    this.skipSpace();
    if (this.text.charAt(this.pos) === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      const key = this.string();
      this.skipSpace();
      this.pos++; // ':'
      setOwn(out, key, this.value());
      this.skipSpace();
      if (this.text.charAt(this.pos++) === '}') return out;
    }
  }

  private array(): BuiltinResult {
    const out: BuiltinResult[] = [];
    this.pos++;
    this.skipSpace();
    if (this.text.charAt(this.pos) === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.skipSpace();
      if (this.text.charAt(this.pos++) === ']') return out;
    }
  }

  private string(): string {
    const start = this.pos;
    this.pos++;
    while (this.text.charAt(this.pos) !== '"') this.pos += this.text.charAt(this.pos) === '\\' ? 2 : 1;
    this.pos++;
    return JSON.parse(this.text.slice(start, this.pos)) as string;
  }

  private number(): number | bigint {
    const start = this.pos;
    while (this.pos < this.text.length && '+-0123456789.eE'.includes(this.text.charAt(this.pos))) this.pos++;
    const src = this.text.slice(start, this.pos);
    const n = Number(src);
    if (/^-?\d+$/.test(src) && !Number.isSafeInteger(n)) return BigInt(src);
    return n;
  }
}
