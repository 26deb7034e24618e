// Shared value model of the host builtins: the shape the engine hands over, the error that
// stands for a Go OPA builtin error, operand checks, and Rego's textual form of values.
import type { Json } from '../../authz/types.js';

/** JSON values as the engine passes them: integers beyond Number.MAX_SAFE_INTEGER arrive (and may be returned) as bigint. Rego sets arrive as arrays. */
export type BuiltinValue = Json | bigint | BuiltinValue[] | { [k: string]: BuiltinValue };
export type BuiltinFn = (...args: BuiltinValue[]) => BuiltinValue | undefined;
export type BuiltinObject = { [k: string]: BuiltinValue };

/** Thrown for Go OPA's builtin errors; the engine turns it into "undefined" (OPA's non-strict mode). */
export class BuiltinError extends Error {
  override readonly name = 'BuiltinError';
}

export function isObject(v: BuiltinValue | undefined): v is BuiltinObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: BuiltinValue | undefined): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'bigint') return 'number';
  return typeof v;
}

function operandTypeError(pos: number, v: BuiltinValue | undefined, expected: string): BuiltinError {
  return new BuiltinError(`operand ${pos} must be ${expected} but got ${typeName(v)}`);
}

export function stringOperand(v: BuiltinValue | undefined, pos: number): string {
  if (typeof v !== 'string') throw operandTypeError(pos, v, 'string');
  return v;
}

export function objectOperand(v: BuiltinValue | undefined, pos: number): BuiltinObject {
  if (!isObject(v)) throw operandTypeError(pos, v, 'object');
  return v;
}

export function arrayOperand(v: BuiltinValue | undefined, pos: number): BuiltinValue[] {
  if (!Array.isArray(v)) throw operandTypeError(pos, v, 'array');
  return v;
}

export function numberOperand(v: BuiltinValue | undefined, pos: number): number | bigint {
  if (typeof v !== 'number' && typeof v !== 'bigint') throw operandTypeError(pos, v, 'number');
  return v;
}

/** Go OPA's IntOperand: a number that is an integer fitting Go's int. */
export function intOperand(v: BuiltinValue | undefined, pos: number): bigint {
  const n = numberOperand(v, pos);
  const i = exactInteger(n);
  if (i === undefined || i < INT64_MIN || i > INT64_MAX) throw new BuiltinError(`operand ${pos} must be integer number but got floating-point number`);
  return i;
}

export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;

/** The integer a number stands for, or undefined when it has a fraction. */
export function exactInteger(n: number | bigint): bigint | undefined {
  if (typeof n === 'bigint') return n;
  return Number.isInteger(n) ? BigInt(n) : undefined;
}

/** Integers go back to the engine as numbers while exact, as bigint beyond that. */
export function integerResult(i: bigint): number | bigint {
  return i >= -BigInt(Number.MAX_SAFE_INTEGER) && i <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(i) : i;
}

/** Go strings are UTF-8 bytes; builtins that work on bytes see a string's UTF-8 encoding. */
export function utf8Bytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** Orders strings by code point, which is Go's byte-wise order of their UTF-8 forms. */
export function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i) ?? 0;
    const cb = b.codePointAt(i) ?? 0;
    if (ca !== cb) return ca < cb ? -1 : 1;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;
const SIMPLE_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x07, '\\a'], [0x08, '\\b'], [0x0c, '\\f'], [0x0a, '\\n'], [0x0d, '\\r'], [0x09, '\\t'], [0x0b, '\\v'],
]);

function hexPad(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Go's strconv.Quote (or QuoteToASCII): a double-quoted Go string literal. */
export function goQuote(s: string, asciiOnly = false, quote = '"'): string {
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    out += goQuoteRune(cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp, asciiOnly, quote);
  }
  return out + quote;
}

export function goQuoteRune(cp: number, asciiOnly: boolean, quote: string): string {
  const ch = String.fromCodePoint(cp);
  if (ch === quote || ch === '\\') return '\\' + ch;
  if (cp < 0x80 ? cp >= 0x20 && cp < 0x7f : !asciiOnly && PRINTABLE.test(ch)) return ch;
  const simple = SIMPLE_ESCAPES.get(cp);
  if (simple !== undefined) return simple;
  if (cp < 0x20 || cp === 0x7f) return '\\x' + hexPad(cp, 2);
  if (cp < 0x10000) return '\\u' + hexPad(cp, 4);
  return '\\U' + hexPad(cp, 8);
}

/** Rego's textual form of a value (ast.Value.String()), as sprintf shows non-string operands. */
export function regoString(v: BuiltinValue): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
    case 'bigint':
      return String(v);
    case 'string':
      return goQuote(v);
  }
  if (Array.isArray(v)) return '[' + v.map(regoString).join(', ') + ']';
  const keys = Object.keys(v).sort(compareGoStrings);
  return '{' + keys.map((k) => `${goQuote(k)}: ${regoString(v[k] as BuiltinValue)}`).join(', ') + '}';
}

/** Adds a key taken from data, so that "__proto__" becomes an own property instead of a prototype. */
export function setOwn(obj: BuiltinObject, key: string, value: BuiltinValue): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** Bounded insertion-ordered cache: the oldest entry goes when the cap is reached. */
export class BoundedCache<K, V> {
  private readonly entries = new Map<K, V>();
  constructor(private readonly cap: number) {}

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): V {
    if (this.entries.size >= this.cap && !this.entries.has(key)) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
    return value;
  }
}
