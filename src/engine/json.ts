// Values crossing the host-builtin boundary. Arguments arrive as the module's opa_value_dump text: JSON
// plus Rego's sets (`{1, "a"}`, `set()`) and non-string object keys, with every number as the text the
// policy or input wrote (Go OPA keeps that text too, and builtins such as sprintf decide by it). Most
// arguments (strings, objects of strings, small integers) are plain JSON that JSON.parse reads natively;
// only a text with a set or a number whose text matters takes the exact reader. Results go back as Rego
// value text (JSON, sets, exact numbers).
import { compareGoStrings, isObject, RegoNumber, RegoSet, setOwn, type BuiltinObject, type BuiltinResult, type BuiltinValue } from './builtins/values.js';

/**
 * Inside a collection, a number (after a bracket, brace, comma or colon) with a point or an exponent, or
 * "-0", or more digits than a double holds exactly. Inside a string it may match too, which only costs the
 * exact reader.
 */
const NUMBER_NEEDS_TEXT = /[[{:,] ?(?:-?\d(?:\d*[.eE]|\d{15})|-0(?!\d))/;
const INTEGER = /^-?\d+$/;
/** Integers with more digits than this may not fit a double exactly. */
const SAFE_DIGITS = 15;

/** opa_value_dump (or opa_json_dump) text -> the value builtins see. */
export function parseRegoValue(text: string): BuiltinValue {
  const first = text.charAt(0);
  // A lone string (a token, a name) is the commonest argument: no scan needed.
  if (first === '"') return JSON.parse(text) as string;
  if ((first === '{' || first === '[') && !NUMBER_NEEDS_TEXT.test(text)) {
    const plain = parsePlainJson(text);
    if (plain !== NOT_JSON) return plain;
  }
  return new RegoValueReader(text).document();
}

const NOT_JSON = Symbol('not JSON');

/** JSON.parse, or NOT_JSON for Rego syntax (a set, a non-string key) that JSON cannot hold. */
function parsePlainJson(text: string): BuiltinValue | typeof NOT_JSON {
  try {
    return JSON.parse(text) as BuiltinValue;
  } catch {
    return NOT_JSON;
  }
}

/**
 * A number's text -> a plain number where String() gives that text back (integers, and decimals with a
 * point), bigint for integers beyond a double's, RegoNumber for every other text (1.0, 1e21, -0).
 */
function numberValue(text: string): number | bigint | RegoNumber {
  if (INTEGER.test(text)) {
    if (text === '-0') return new RegoNumber(text);
    if (text.replace('-', '').length <= SAFE_DIGITS) return Number(text);
    const big = BigInt(text);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
  const n = Number(text);
  return text.includes('.') && String(n) === text ? n : new RegoNumber(text);
}

const NUMBER_TOKEN = /-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
const LITERALS: ReadonlyArray<readonly [string, BuiltinValue]> = [
  ['true', true],
  ['false', false],
  ['null', null],
];

class RegoValueReader {
  private pos = 0;
  constructor(private readonly text: string) {}

  document(): BuiltinValue {
    const value = this.value();
    this.skipSpace();
    if (this.pos !== this.text.length) throw new SyntaxError(`unexpected text at ${this.pos}`);
    return value;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text.charAt(this.pos))) this.pos++;
  }

  private value(): BuiltinValue {
    this.skipSpace();
    const c = this.text.charAt(this.pos);
    if (c === '{') return this.objectOrSet();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (this.text.startsWith('set()', this.pos)) {
      this.pos += 5;
      return new RegoSet([]);
    }
    for (const [word, v] of LITERALS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    return this.number();
  }

  /** `{}` is an empty object; otherwise a ':' after the first element makes an object, its absence a set. */
  private objectOrSet(): BuiltinValue {
    this.pos++;
    this.skipSpace();
    if (this.text.charAt(this.pos) === '}') {
      this.pos++;
      return {};
    }
    const first = this.value();
    this.skipSpace();
    return this.text.charAt(this.pos) === ':' ? this.object(first) : this.set(first);
  }

  private object(firstKey: BuiltinValue): BuiltinObject {
    const out: BuiltinObject = {};
    let key = firstKey;
    for (;;) {
      this.skipSpace();
      if (this.text.charAt(this.pos++) !== ':') throw new SyntaxError(`expected ':' at ${this.pos - 1}`);
      setOwn(out, objectKey(key), this.value());
      if (this.atListEnd('}')) return out;
      key = this.value();
    }
  }

  private set(first: BuiltinValue): RegoSet {
    const members = [first];
    while (!this.atListEnd('}')) members.push(this.value());
    return new RegoSet(members);
  }

  private array(): BuiltinValue[] {
    this.pos++;
    this.skipSpace();
    if (this.text.charAt(this.pos) === ']') {
      this.pos++;
      return [];
    }
    const out: BuiltinValue[] = [];
    do out.push(this.value());
    while (!this.atListEnd(']'));
    return out;
  }

  /** After an element: true at the closing bracket, false at a comma (both consumed). */
  private atListEnd(close: string): boolean {
    this.skipSpace();
    const c = this.text.charAt(this.pos++);
    if (c === close) return true;
    if (c !== ',') throw new SyntaxError(`expected ',' or '${close}' at ${this.pos - 1}`);
    return false;
  }

  private string(): string {
    let end = this.pos + 1;
    while (end < this.text.length && this.text.charAt(end) !== '"') end += this.text.charAt(end) === '\\' ? 2 : 1;
    const raw = this.text.slice(this.pos, end + 1);
    this.pos = end + 1;
    return JSON.parse(raw) as string;
  }

  private number(): number | bigint | RegoNumber {
    NUMBER_TOKEN.lastIndex = this.pos;
    const m = NUMBER_TOKEN.exec(this.text);
    if (m === null) throw new SyntaxError(`unexpected character at ${this.pos}`);
    this.pos += m[0].length;
    return numberValue(m[0]);
  }
}

/** Go OPA turns a non-string key into the JSON text of its value (ast.JSON) wherever it needs an object of strings. */
function objectKey(key: BuiltinValue): string {
  return typeof key === 'string' ? key : goJsonText(key);
}

// encoding/json escapes these inside strings (HTML safety and JavaScript line terminators).
const GO_JSON_ESCAPES = /[<>&\u2028\u2029]/g;

/** Compact JSON as Go's encoding/json writes a value: sets as arrays in set order, numbers as their text, keys sorted. */
function goJsonText(v: BuiltinValue): string {
  if (typeof v === 'string') return JSON.stringify(v).replace(GO_JSON_ESCAPES, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof RegoNumber) return v.text;
  if (v instanceof RegoSet) return goJsonText([...v.members]);
  if (Array.isArray(v)) return `[${v.map(goJsonText).join(',')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).sort(compareGoStrings);
    return `{${keys.map((k) => `${goJsonText(k)}:${goJsonText(v[k] as BuiltinValue)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * A builtin's result as Rego value text, which the module's opa_value_parse reads exactly: JSON, plus
 * sets (`{1, 2}`, `set()`, members in Go OPA's order, as Go's SDK writes term.String()), bigint as its
 * digits and RegoNumber as its text. Plain JSON results (the common case) take JSON.stringify alone.
 */
export function regoValueText(value: BuiltinResult): string {
  // time.now_ns answers a bare bigint on every evaluation.
  if (typeof value === 'bigint') return value.toString();
  if (!needsRegoText(value)) return JSON.stringify(value) ?? 'null';
  return writeRegoText(value);
}

function writeRegoText(v: BuiltinResult): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v !== 'object' || v === null) return JSON.stringify(v) ?? 'null';
  if (v instanceof RegoNumber) return v.text;
  if (v instanceof RegoSet) return v.members.length === 0 ? 'set()' : `{${v.members.map((m) => writeRegoText(m as BuiltinResult)).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(writeRegoText).join(',')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) if (x !== undefined) parts.push(`${JSON.stringify(k)}:${writeRegoText(x)}`);
  return `{${parts.join(',')}}`;
}

function needsRegoText(value: unknown): boolean {
  if (typeof value === 'bigint') return true;
  if (typeof value !== 'object' || value === null) return false;
  if (value instanceof RegoSet || value instanceof RegoNumber) return true;
  if (Array.isArray(value)) return value.some(needsRegoText);
  for (const v of Object.values(value)) if (needsRegoText(v)) return true;
  return false;
}
