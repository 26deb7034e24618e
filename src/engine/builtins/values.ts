// Shared value model of the host builtins: the shape the engine hands over, the error that
// stands for a Go OPA builtin error, operand checks, Go OPA's order of values and their Rego text.
import type { Json } from '../../authz/types.js';
import { atoi64, compareNumberTexts } from './numbers.js';

/**
 * A Rego number whose text is neither a plain integer nor a decimal that JavaScript prints back the same
 * way (1.0, 1.50, 1e21, 1e-7, -0): Go OPA keeps a number's literal text, and sprintf, Rego's text form and
 * the time builtins decide by it.
 */
export class RegoNumber {
  constructor(readonly text: string) {}
}

/** A Rego set, its members in Go OPA's order (ast.Compare), the order in which Go iterates and prints sets. */
export class RegoSet {
  readonly members: readonly BuiltinValue[];
  constructor(members: Iterable<BuiltinValue>) {
    this.members = [...members].sort(compareValues);
  }
}

/**
 * Values as the engine passes them: JSON, with integers beyond Number.MAX_SAFE_INTEGER as bigint, numbers
 * whose text matters as RegoNumber, and sets as RegoSet. A plain number is an integer or a decimal whose
 * text is what String() gives.
 */
export type BuiltinValue = Json | bigint | RegoNumber | RegoSet | BuiltinValue[] | { [k: string]: BuiltinValue };
/**
 * What builtins return: JSON, bigint for integers beyond a double, RegoNumber for a number whose text
 * matters (written back as that text) and RegoSet for a set; the engine writes all of them back exactly.
 */
export type BuiltinResult = Json | bigint | RegoNumber | RegoSet | BuiltinResult[] | { [k: string]: BuiltinResult };
export type BuiltinFn = (...args: BuiltinValue[]) => BuiltinResult | undefined;
export type BuiltinObject = { [k: string]: BuiltinValue };
export type ResultObject = { [k: string]: BuiltinResult };
export type RegoNumeric = number | bigint | RegoNumber;

/** Thrown for Go OPA's builtin errors; the engine turns it into "undefined" (OPA's non-strict mode). */
export class BuiltinError extends Error {
  override readonly name = 'BuiltinError';
}

export function isObject(v: BuiltinValue | undefined): v is BuiltinObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RegoNumber) && !(v instanceof RegoSet);
}

export function isNumber(v: BuiltinValue | undefined): v is RegoNumeric {
  return typeof v === 'number' || typeof v === 'bigint' || v instanceof RegoNumber;
}

function typeName(v: BuiltinValue | undefined): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (isNumber(v)) return 'number';
  if (v instanceof RegoSet) return 'set';
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

export function numberOperand(v: BuiltinValue | undefined, pos: number): RegoNumeric {
  if (!isNumber(v)) throw operandTypeError(pos, v, 'number');
  return v;
}

/** Go OPA's IntOperand: a number whose text is an integer fitting Go's int (so 1.0 and 1e3 are not). */
export function intOperand(v: BuiltinValue | undefined, pos: number): bigint {
  const n = numberOperand(v, pos);
  const i = n instanceof RegoNumber ? atoi64(n.text) : exactInteger(n);
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

/** A number's text as Go OPA holds it. */
export function numberText(n: RegoNumeric): string {
  return n instanceof RegoNumber ? n.text : String(n);
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
  if (v instanceof RegoNumber) return v.text;
  if (v instanceof RegoSet) return v.members.length === 0 ? 'set()' : '{' + v.members.map(regoString).join(', ') + '}';
  const keys = Object.keys(v).sort(compareGoStrings);
  return '{' + keys.map((k) => `${goQuote(k)}: ${regoString(v[k] as BuiltinValue)}`).join(', ') + '}';
}

// ---- Go OPA's order of values (ast.Compare) ----------------------------------------------------

/** ast.Compare's rank of each kind: null < boolean < number < string < array < object < set. */
function kindRank(v: BuiltinValue): number {
  if (v === null) return 0;
  switch (typeof v) {
    case 'boolean':
      return 1;
    case 'number':
    case 'bigint':
      return 2;
    case 'string':
      return 3;
  }
  if (Array.isArray(v)) return 4;
  if (v instanceof RegoNumber) return 2;
  if (v instanceof RegoSet) return 6;
  return 5;
}

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function compareNumbers(a: RegoNumeric, b: RegoNumeric): number {
  if (typeof a === 'number' && typeof b === 'number' && Number.isSafeInteger(a) && Number.isSafeInteger(b)) return sign(a - b);
  return compareNumberTexts(numberText(a), numberText(b));
}

function compareSequences(a: readonly BuiltinValue[], b: readonly BuiltinValue[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareValues(a[i] as BuiltinValue, b[i] as BuiltinValue);
    if (c !== 0) return c;
  }
  return sign(a.length - b.length);
}

function compareObjects(a: BuiltinObject, b: BuiltinObject): number {
  const ak = Object.keys(a).sort(compareGoStrings);
  const bk = Object.keys(b).sort(compareGoStrings);
  const n = Math.min(ak.length, bk.length);
  for (let i = 0; i < n; i++) {
    const [ka, kb] = [ak[i] as string, bk[i] as string];
    const c = compareGoStrings(ka, kb) || compareValues(a[ka] as BuiltinValue, b[kb] as BuiltinValue);
    if (c !== 0) return sign(c);
  }
  return sign(ak.length - bk.length);
}

/** ast.Compare: Go OPA's total order of values, by which sets are sorted. */
export function compareValues(a: BuiltinValue, b: BuiltinValue): number {
  const [ra, rb] = [kindRank(a), kindRank(b)];
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (isNumber(a) && isNumber(b)) return compareNumbers(a, b);
  if (typeof a === 'boolean') return a === b ? 0 : a ? 1 : -1;
  if (typeof a === 'string') return sign(compareGoStrings(a, b as string));
  if (Array.isArray(a)) return compareSequences(a, b as BuiltinValue[]);
  if (a instanceof RegoSet) return compareSequences(a.members, (b as RegoSet).members);
  if (isObject(a)) return compareObjects(a, b as BuiltinObject);
  return 0; // null
}

/** Adds a key taken from data, so that "__proto__" becomes an own property instead of a prototype. */
export function setOwn<V>(obj: { [k: string]: V }, key: string, value: V): void {
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
