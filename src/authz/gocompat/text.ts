// Go's view of text: strings are bytes, shown as UTF-8 with each invalid byte as U+FFFD, and quoted
// (in error messages) by strconv.Quote. The reference builds its error texts and parsed values this
// way, so the agent needs the same rules to produce the same input and the same messages.
import { Buffer, isUtf8 } from 'node:buffer';

const REPLACEMENT = 0xfffd;

/** Error text exactly as the Go reference words it (err.Error()). */
export class GoError extends Error {}

/** Bytes as a JS string. Node replaces a broken sequence by one U+FFFD, Go by one per byte: use Go's rule. */
export function decodeUtf8(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return buf.toString('utf8');
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const [cp, width] = decodeRune(bytes, i);
    out += String.fromCodePoint(cp);
    i += width;
  }
  return out;
}

/** One rune at `i` as utf8.DecodeRune does: an invalid or cut sequence is U+FFFD, width 1. */
export function decodeRune(b: Uint8Array, i: number): [codePoint: number, width: number] {
  const c0 = b[i] as number;
  if (c0 < 0x80) return [c0, 1];
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  let cp: number;
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    need = 1;
    cp = c0 & 0x1f;
  } else if (c0 >= 0xe0 && c0 <= 0xef) {
    need = 2;
    cp = c0 & 0x0f;
    if (c0 === 0xe0) lo = 0xa0;
    else if (c0 === 0xed) hi = 0x9f; // surrogates are not valid UTF-8
  } else if (c0 >= 0xf0 && c0 <= 0xf4) {
    need = 3;
    cp = c0 & 0x07;
    if (c0 === 0xf0) lo = 0x90;
    else if (c0 === 0xf4) hi = 0x8f;
  } else {
    return [REPLACEMENT, 1];
  }
  for (let k = 1; k <= need; k++) {
    const c = b[i + k];
    if (c === undefined || c < lo || c > hi) return [REPLACEMENT, 1];
    cp = (cp << 6) | (c & 0x3f);
    lo = 0x80;
    hi = 0xbf;
  }
  return [cp, need + 1];
}

// unicode.IsPrint: letters, marks, numbers, punctuation, symbols (and ASCII space, handled apart).
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** One rune as strconv.Quote writes it inside the quotes (quote: the quote character to escape). */
export function quoteRune(cp: number, quote: number): string {
  if (cp === quote || cp === 0x5c) return '\\' + String.fromCharCode(cp);
  if (cp === 0x20 || (cp > 0x20 && cp < 0x7f)) return String.fromCharCode(cp);
  if (cp >= 0x80 && PRINTABLE.test(String.fromCodePoint(cp))) return String.fromCodePoint(cp);
  switch (cp) {
    case 0x07:
      return '\\a';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x0b:
      return '\\v';
  }
  if (cp < 0x20 || cp === 0x7f) return '\\x' + hex(cp, 2);
  if (cp < 0x10000) return '\\u' + hex(cp, 4);
  return '\\U' + hex(cp, 8);
}

/** strconv.Quote of a Go string given as its bytes (or as JS text, taken as its UTF-8 bytes). */
export function quote(s: string | Uint8Array): string {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  let out = '"';
  for (let i = 0; i < b.length; ) {
    const [cp, width] = decodeRune(b, i);
    if (cp === REPLACEMENT && width === 1) {
      out += '\\x' + hex(b[i] as number, 2);
    } else {
      out += quoteRune(cp, 0x22);
    }
    i += width;
  }
  return out + '"';
}

/** The value of an ASCII hex digit, -1 for anything else (undefined: past the end). */
export function hexDigit(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Go's %T of a value decoded from JSON by OPA (util.UnmarshalJSON, numbers as json.Number). */
export function goTypeName(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return 'json.Number';
    case 'boolean':
      return 'bool';
  }
  return Array.isArray(value) ? '[]interface {}' : 'map[string]interface {}';
}
