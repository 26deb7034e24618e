// mime.ParseMediaType, which the reference uses on a multipart request's Content-Type (for the
// boundary) and on each part's Content-Disposition (for the form name), with Go's error texts and
// its RFC 2231 handling of `name*=utf-8''...` and `name*0=...` parameters.
import { Buffer } from 'node:buffer';
import { decodeUtf8, GoError, hexDigit } from './text.js';

export interface MediaType {
  /** Lower-cased and trimmed. */
  type: string;
  params: Map<string, string>;
}

// unicode.IsSpace (JS's \s would also take U+FEFF).
const SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEADING_SPACE = new RegExp(`^[${SPACE}]+`);
const TRAILING_SPACE = new RegExp(`[${SPACE}]+$`);

export function parseMediaType(v: string): MediaType {
  const semi = v.indexOf(';');
  const base = semi < 0 ? v : v.slice(0, semi);
  const type = trimSpace(base.toLowerCase());
  checkMediaType(type);

  const params = new Map<string, string>();
  let continuation: Map<string, Map<string, string>> | undefined;
  let rest = v.slice(base.length);
  while (rest.length > 0) {
    rest = rest.replace(LEADING_SPACE, '');
    if (rest.length === 0) break;
    const param = consumeMediaParam(rest);
    if (!param) {
      if (trimSpace(rest) === ';') break; // a trailing semicolon is tolerated
      throw new GoError('mime: invalid media parameter');
    }
    let target = params;
    const star = param.key.indexOf('*');
    if (star >= 0) {
      continuation ??= new Map();
      const baseName = param.key.slice(0, star);
      target = continuation.get(baseName) ?? new Map<string, string>();
      continuation.set(baseName, target);
    }
    const existing = target.get(param.key);
    if (existing !== undefined && existing !== param.value) throw new GoError('mime: duplicate parameter name');
    target.set(param.key, param.value);
    rest = param.rest;
  }
  if (continuation) stitchContinuations(continuation, params);
  return { type, params };
}

function checkMediaType(s: string): void {
  const [major, afterMajor] = consumeToken(s);
  if (major === '') throw new GoError('mime: no media type');
  if (afterMajor === '') return;
  if (!afterMajor.startsWith('/')) throw new GoError('mime: expected slash after first token');
  const [minor, afterMinor] = consumeToken(afterMajor.slice(1));
  if (minor === '') throw new GoError('mime: expected token after slash');
  if (afterMinor !== '') throw new GoError('mime: unexpected content after media subtype');
}

// RFC 2231: `key*` is one encoded value, `key*0`, `key*1*`, ... are pieces to join.
function stitchContinuations(continuation: Map<string, Map<string, string>>, params: Map<string, string>): void {
  for (const [key, pieces] of continuation) {
    const single = pieces.get(key + '*');
    if (single !== undefined) {
      const decoded = decode2231(single);
      if (decoded !== undefined) params.set(key, decoded);
      continue;
    }
    let joined = '';
    let valid = false;
    for (let n = 0; ; n++) {
      const plain = pieces.get(`${key}*${n}`);
      if (plain !== undefined) {
        valid = true;
        joined += plain;
        continue;
      }
      const encoded = pieces.get(`${key}*${n}*`);
      if (encoded === undefined) break;
      valid = true;
      joined += (n === 0 ? decode2231(encoded) : percentUnescape(encoded)) ?? '';
    }
    if (valid) params.set(key, joined);
  }
}

function decode2231(v: string): string | undefined {
  const q1 = v.indexOf("'");
  if (q1 < 0) return undefined;
  const q2 = v.indexOf("'", q1 + 1);
  if (q2 < 0) return undefined;
  const charset = v.slice(0, q1).toLowerCase();
  if (charset !== 'us-ascii' && charset !== 'utf-8') return undefined;
  return percentUnescape(v.slice(q2 + 1));
}

function percentUnescape(s: string): string | undefined {
  if (s.indexOf('%') < 0) return s;
  const b = Buffer.from(s, 'utf8');
  let w = 0;
  for (let r = 0; r < b.length; ) {
    if (b[r] === 0x25) {
      const hi = hexDigit(b[r + 1]);
      const lo = hexDigit(b[r + 2]);
      if (hi < 0 || lo < 0) return undefined;
      b[w++] = (hi << 4) | lo;
      r += 3;
    } else {
      b[w++] = b[r++] as number;
    }
  }
  return decodeUtf8(b.subarray(0, w));
}

interface MediaParam {
  key: string;
  value: string;
  rest: string;
}

function consumeMediaParam(v: string): MediaParam | undefined {
  let rest = v.replace(LEADING_SPACE, '');
  if (!rest.startsWith(';')) return undefined;
  rest = rest.slice(1).replace(LEADING_SPACE, '');
  const [rawKey, afterKey] = consumeToken(rest);
  const key = rawKey.toLowerCase();
  if (key === '') return undefined;
  rest = afterKey.replace(LEADING_SPACE, '');
  if (!rest.startsWith('=')) return undefined;
  rest = rest.slice(1).replace(LEADING_SPACE, '');
  const [value, afterValue] = consumeValue(rest);
  if (value === '' && afterValue === rest) return undefined;
  return { key, value, rest: afterValue };
}

function consumeToken(v: string): [token: string, rest: string] {
  let i = 0;
  while (i < v.length && isTokenChar(v.charCodeAt(i))) i++;
  return [v.slice(0, i), v.slice(i)];
}

/** A token or a quoted-string (unquoted); ['', v] when neither is there. */
function consumeValue(v: string): [value: string, rest: string] {
  if (v === '') return ['', v];
  if (v.charCodeAt(0) !== 0x22) return consumeToken(v);
  let out = '';
  for (let i = 1; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x22) return [out, v.slice(i + 1)];
    // A backslash before anything but a tspecial is literal (MSIE sends unescaped Windows paths).
    if (c === 0x5c && i + 1 < v.length && TSPECIALS.includes(v.charAt(i + 1))) {
      out += v.charAt(i + 1);
      i++;
      continue;
    }
    if (c === 0x0d || c === 0x0a) return ['', v];
    out += v.charAt(i);
  }
  return ['', v];
}

const TSPECIALS = '()<>@,;:\\"/[]?=';

function isTokenChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && !TSPECIALS.includes(String.fromCharCode(c));
}

function trimSpace(s: string): string {
  return s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}
