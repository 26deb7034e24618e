// OPA's util.UnmarshalJSON, which the reference uses for JSON bodies: encoding/json's Decoder reads
// the first value, then one more token must be absent (or null). Valid input goes through the
// native JSON.parse; only input JSON.parse rejects (or too deeply nested input) is scanned again by
// a port of Go's scanner, for Go's verdict and its exact error text.
//
// Precision limit: the reference decodes numbers as json.Number, so integers beyond 2^53 stay exact
// and 1e400 stays 1e400. Here numbers are JS doubles: such values are rounded (1e400 is Infinity).
import { Buffer } from 'node:buffer';
import { decodeUtf8, GoError, quoteRune } from './text.js';

// Go's scanner refuses nesting deeper than this.
const MAX_DEPTH = 10000;
// A document shorter than this cannot nest deeper than MAX_DEPTH (every level takes two bytes).
const DEPTH_CHECK_MIN_LENGTH = 2 * MAX_DEPTH + 2;
// A \u escape of a UTF-16 surrogate: Go decodes an unpaired one as U+FFFD, JSON.parse keeps it.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Decodes JSON text (a body sent as a string). Throws GoError with Go's message when Go would fail. */
export function unmarshalJson(text: string): unknown {
  const parsed = parseNative(text);
  return parsed !== FAILED ? parsed : decodeAsGo(Buffer.from(text, 'utf8'));
}

/** Decodes JSON bytes (a raw body or a multipart part). Throws GoError with Go's message when Go would fail. */
export function unmarshalJsonBytes(bytes: Uint8Array): unknown {
  const parsed = parseNative(decodeUtf8(bytes));
  return parsed !== FAILED ? parsed : decodeAsGo(bytes);
}

const FAILED = Symbol('failed');

function parseNative(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return FAILED;
  }
  if (text.length >= DEPTH_CHECK_MIN_LENGTH && nestsTooDeep(text)) return FAILED;
  return SURROGATE_ESCAPE.test(text) ? wellFormed(value) : value;
}

function nestsTooDeep(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_DEPTH) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

function toWellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return toWellFormed(value);
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, toWellFormed(k), { value: wellFormed(v), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** The slow path: Decoder.Decode, then Decoder.Token, as util.UnmarshalJSON calls them. */
function decodeAsGo(b: Uint8Array): unknown {
  const end = readValue(b, 0);
  const value = parseSlice(b, 0, end);
  let i = end;
  while (i < b.length && isSpace(b[i] as number)) i++;
  if (i === b.length) return value;
  const c = b[i] as number;
  switch (c) {
    case 0x7b: // {
    case 0x5b: // [
      throw afterTopLevel(String.fromCharCode(c));
    case 0x7d: // }
    case 0x5d: // ]
    case 0x3a: // :
    case 0x2c: // ,
      throw new GoError(`invalid character ${quoteChar(c)} looking for beginning of value`);
  }
  const tokenEnd = readValue(b, i);
  const token: unknown = parseSlice(b, i, tokenEnd);
  if (token === null) return value;
  if (typeof token === 'boolean') throw afterTopLevel(`%!s(bool=${token})`);
  // A number shows as its literal text (json.Number), a string as its decoded text.
  throw afterTopLevel(typeof token === 'string' ? token : decodeUtf8(b.subarray(i, tokenEnd)));
}

function afterTopLevel(token: string): GoError {
  return new GoError(`error: invalid character '${token}' after top-level value`);
}

function parseSlice(b: Uint8Array, start: number, end: number): unknown {
  const text = decodeUtf8(b.subarray(start, end));
  const value: unknown = JSON.parse(text);
  return SURROGATE_ESCAPE.test(text) ? wellFormed(value) : value;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** json's quoteChar: the offending byte as a rune, quoted with single quotes. */
function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  return `'${quoteRune(c, 0x22)}'`;
}

// --- Decoder.readValue over a port of encoding/json's scanner -----------------------------------

const enum Step {
  BeginValueOrEmpty,
  BeginValue,
  BeginStringOrEmpty,
  BeginString,
  EndValue,
  EndTop,
  InString,
  InStringEsc,
  InStringEscU,
  InStringEscU1,
  InStringEscU12,
  InStringEscU123,
  Neg,
  One,
  Zero,
  Dot,
  Dot0,
  E,
  ESign,
  E0,
  T,
  Tr,
  Tru,
  F,
  Fa,
  Fal,
  Fals,
  N,
  Nu,
  Nul,
}

const enum Scan {
  Continue,
  End,
  EndComposite,
}

const enum Parse {
  ObjectKey,
  ObjectValue,
  ArrayValue,
}

const LITERALS: Partial<Record<Step, [expected: number, next: Step, literal: string]>> = {
  [Step.T]: [0x72, Step.Tr, 'true'],
  [Step.Tr]: [0x75, Step.Tru, 'true'],
  [Step.Tru]: [0x65, Step.EndValue, 'true'],
  [Step.F]: [0x61, Step.Fa, 'false'],
  [Step.Fa]: [0x6c, Step.Fal, 'false'],
  [Step.Fal]: [0x73, Step.Fals, 'false'],
  [Step.Fals]: [0x65, Step.EndValue, 'false'],
  [Step.N]: [0x75, Step.Nu, 'null'],
  [Step.Nu]: [0x6c, Step.Nul, 'null'],
  [Step.Nul]: [0x6c, Step.EndValue, 'null'],
};

class Scanner {
  step: Step = Step.BeginValue;
  readonly stack: Parse[] = [];

  next(c: number): Scan {
    switch (this.step) {
      case Step.BeginValueOrEmpty:
        if (isSpace(c)) return Scan.Continue;
        if (c === 0x5d) return this.endValue(c);
        return this.beginValue(c);
      case Step.BeginValue:
        return this.beginValue(c);
      case Step.BeginStringOrEmpty:
        if (isSpace(c)) return Scan.Continue;
        if (c === 0x7d) {
          this.stack[this.stack.length - 1] = Parse.ObjectValue;
          return this.endValue(c);
        }
        return this.beginString(c);
      case Step.BeginString:
        return this.beginString(c);
      case Step.EndValue:
        return this.endValue(c);
      case Step.EndTop:
        return Scan.End;
      case Step.InString:
        if (c === 0x22) this.step = Step.EndValue;
        else if (c === 0x5c) this.step = Step.InStringEsc;
        else if (c < 0x20) throw this.error(c, 'in string literal');
        return Scan.Continue;
      case Step.InStringEsc:
        if (c === 0x75) this.step = Step.InStringEscU;
        else if ('bfnrt\\/"'.includes(String.fromCharCode(c))) this.step = Step.InString;
        else throw this.error(c, 'in string escape code');
        return Scan.Continue;
      case Step.InStringEscU:
      case Step.InStringEscU1:
      case Step.InStringEscU12:
      case Step.InStringEscU123:
        if (!isHex(c)) throw this.error(c, 'in \\u hexadecimal character escape');
        this.step = this.step === Step.InStringEscU123 ? Step.InString : this.step + 1;
        return Scan.Continue;
      case Step.Neg:
        if (c === 0x30) this.step = Step.Zero;
        else if (isDigit1to9(c)) this.step = Step.One;
        else throw this.error(c, 'in numeric literal');
        return Scan.Continue;
      case Step.One:
        if (isDigit(c)) return Scan.Continue;
        return this.zero(c);
      case Step.Zero:
        return this.zero(c);
      case Step.Dot:
        if (!isDigit(c)) throw this.error(c, 'after decimal point in numeric literal');
        this.step = Step.Dot0;
        return Scan.Continue;
      case Step.Dot0:
        if (isDigit(c)) return Scan.Continue;
        if (c === 0x65 || c === 0x45) {
          this.step = Step.E;
          return Scan.Continue;
        }
        return this.endValue(c);
      case Step.E:
        if (c === 0x2b || c === 0x2d) {
          this.step = Step.ESign;
          return Scan.Continue;
        }
        return this.eSign(c);
      case Step.ESign:
        return this.eSign(c);
      case Step.E0:
        if (isDigit(c)) return Scan.Continue;
        return this.endValue(c);
      default: {
        const [expected, next, literal] = LITERALS[this.step] as [number, Step, string];
        if (c !== expected) throw this.error(c, `in literal ${literal} (expecting ${quoteChar(expected)})`);
        this.step = next;
        return Scan.Continue;
      }
    }
  }

  private beginValue(c: number): Scan {
    if (isSpace(c)) return Scan.Continue;
    switch (c) {
      case 0x7b:
        this.step = Step.BeginStringOrEmpty;
        return this.push(c, Parse.ObjectKey);
      case 0x5b:
        this.step = Step.BeginValueOrEmpty;
        return this.push(c, Parse.ArrayValue);
      case 0x22:
        this.step = Step.InString;
        return Scan.Continue;
      case 0x2d:
        this.step = Step.Neg;
        return Scan.Continue;
      case 0x30:
        this.step = Step.Zero;
        return Scan.Continue;
      case 0x74:
        this.step = Step.T;
        return Scan.Continue;
      case 0x66:
        this.step = Step.F;
        return Scan.Continue;
      case 0x6e:
        this.step = Step.N;
        return Scan.Continue;
    }
    if (isDigit1to9(c)) {
      this.step = Step.One;
      return Scan.Continue;
    }
    throw this.error(c, 'looking for beginning of value');
  }

  private beginString(c: number): Scan {
    if (isSpace(c)) return Scan.Continue;
    if (c === 0x22) {
      this.step = Step.InString;
      return Scan.Continue;
    }
    throw this.error(c, 'looking for beginning of object key string');
  }

  private zero(c: number): Scan {
    if (c === 0x2e) {
      this.step = Step.Dot;
      return Scan.Continue;
    }
    if (c === 0x65 || c === 0x45) {
      this.step = Step.E;
      return Scan.Continue;
    }
    return this.endValue(c);
  }

  private eSign(c: number): Scan {
    if (!isDigit(c)) throw this.error(c, 'in exponent of numeric literal');
    this.step = Step.E0;
    return Scan.Continue;
  }

  private endValue(c: number): Scan {
    const n = this.stack.length;
    // Go reports junk right after a top-level value only on the next read, not here.
    if (n === 0) {
      this.step = Step.EndTop;
      return Scan.End;
    }
    if (isSpace(c)) {
      this.step = Step.EndValue;
      return Scan.Continue;
    }
    switch (this.stack[n - 1]) {
      case Parse.ObjectKey:
        if (c === 0x3a) {
          this.stack[n - 1] = Parse.ObjectValue;
          this.step = Step.BeginValue;
          return Scan.Continue;
        }
        throw this.error(c, 'after object key');
      case Parse.ObjectValue:
        if (c === 0x2c) {
          this.stack[n - 1] = Parse.ObjectKey;
          this.step = Step.BeginString;
          return Scan.Continue;
        }
        if (c === 0x7d) return this.pop();
        throw this.error(c, 'after object key:value pair');
      default:
        if (c === 0x2c) {
          this.step = Step.BeginValue;
          return Scan.Continue;
        }
        if (c === 0x5d) return this.pop();
        throw this.error(c, 'after array element');
    }
  }

  private push(c: number, state: Parse): Scan {
    this.stack.push(state);
    if (this.stack.length > MAX_DEPTH) throw this.error(c, 'exceeded max depth');
    return Scan.Continue;
  }

  private pop(): Scan {
    this.stack.pop();
    this.step = this.stack.length === 0 ? Step.EndTop : Step.EndValue;
    return Scan.EndComposite;
  }

  private error(c: number, context: string): GoError {
    return new GoError(`invalid character ${quoteChar(c)} ${context}`);
  }
}

/** Decoder.readValue: the end offset of the value starting at `start` (after leading spaces). */
function readValue(b: Uint8Array, start: number): number {
  const scanner = new Scanner();
  for (let i = start; i < b.length; i++) {
    const r = scanner.next(b[i] as number);
    if (r === Scan.End) return i;
    if (r === Scan.EndComposite && scanner.stack.length === 0) return i + 1;
  }
  if (endsAtEof(scanner)) return b.length;
  for (let i = start; i < b.length; i++) {
    if (!isSpace(b[i] as number)) throw new GoError('unexpected EOF');
  }
  throw new GoError('EOF');
}

// At the end of input Go feeds the scanner one space: a number may end there; anything else,
// including a scanner error on that space, means the input ended inside the value.
function endsAtEof(scanner: Scanner): boolean {
  try {
    return scanner.next(0x20) === Scan.End;
  } catch {
    return false;
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isDigit1to9(c: number): boolean {
  return c >= 0x31 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}
