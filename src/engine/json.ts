// JSON text <-> values for host builtin calls. Rego numbers are arbitrary precision and builtins such as
// time.parse_rfc3339_ns return nanoseconds beyond 2^53, so integers that a double cannot hold travel as
// bigint here. Only builtin arguments and results pass through this; inputs and results of a whole
// evaluation use the plain JSON functions.

/** Integers with more digits than this may not fit a double exactly. */
const SAFE_DIGITS = 15;
const LONG_DIGIT_RUN = /\d{16}/;

export function parseJsonExact(text: string): unknown {
  if (!LONG_DIGIT_RUN.test(text)) return JSON.parse(text);
  return new ExactParser(text).parseDocument();
}

class ExactParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    const value = this.value();
    this.ws();
    if (this.pos !== this.text.length) throw new SyntaxError(`unexpected text at ${this.pos}`);
    return value;
  }

  private ws(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos]!)) this.pos++;
  }

  private value(): unknown {
    this.ws();
    const c = this.text[this.pos];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    throw new SyntaxError(`unexpected character at ${this.pos}`);
  }

  private object(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.pos++;
    this.ws();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      const key = this.string();
      this.ws();
      if (this.text[this.pos++] !== ':') throw new SyntaxError(`expected ':' at ${this.pos - 1}`);
      out[key] = this.value();
      this.ws();
      const sep = this.text[this.pos++];
      if (sep === '}') return out;
      if (sep !== ',') throw new SyntaxError(`expected ',' or '}' at ${this.pos - 1}`);
    }
  }

  private array(): unknown[] {
    const out: unknown[] = [];
    this.pos++;
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.ws();
      const sep = this.text[this.pos++];
      if (sep === ']') return out;
      if (sep !== ',') throw new SyntaxError(`expected ',' or ']' at ${this.pos - 1}`);
    }
  }

  private string(): string {
    if (this.text[this.pos] !== '"') throw new SyntaxError(`expected string at ${this.pos}`);
    let end = this.pos + 1;
    while (end < this.text.length && this.text[end] !== '"') end += this.text[end] === '\\' ? 2 : 1;
    const raw = this.text.slice(this.pos, end + 1);
    this.pos = end + 1;
    return JSON.parse(raw) as string;
  }

  private number(): number | bigint {
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.pos, this.pos + 400));
    if (!m) throw new SyntaxError(`bad number at ${this.pos}`);
    this.pos += m[0].length;
    const digits = m[0].replace('-', '').length;
    if (m[1] === undefined && m[2] === undefined && digits > SAFE_DIGITS) {
      const big = BigInt(m[0]);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    }
    return Number(m[0]);
  }
}

/** JSON.stringify that writes bigint as its exact digits. */
export function stringifyJsonExact(value: unknown): string | undefined {
  if (!containsBigInt(value)) return JSON.stringify(value);
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000big:${v.toString()}` : v))
    .replace(/"\\u0000big:(-?\d+)"/g, '$1');
}

function containsBigInt(value: unknown): boolean {
  if (typeof value === 'bigint') return true;
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(containsBigInt);
  for (const v of Object.values(value)) if (containsBigInt(v)) return true;
  return false;
}
