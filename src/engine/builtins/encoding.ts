// base64url, hex and urlquery builtins with Go's encoders' exact acceptance rules (Node's own
// decoders are lenient where Go's are strict, so validation happens here first).
import {
  BuiltinError,
  compareGoStrings,
  isObject,
  RegoSet,
  setOwn,
  stringOperand,
  utf8Bytes,
  type BuiltinFn,
  type BuiltinObject,
  type BuiltinValue,
  type ResultObject,
} from './values.js';

const BASE64URL_PADDED = /^[A-Za-z0-9_-]*={0,2}$/;
const LINE_BREAKS = /[\r\n]/g;

/** OPA's base64url.decode: adds missing padding (RFC 7515 appendix C), then decodes as Go's strict URLEncoding. */
export function decodeBase64Url(s: string): Buffer {
  let padded = s;
  if (!s.endsWith('=')) {
    switch (s.length % 4) {
      case 2:
        padded += '==';
        break;
      case 3:
        padded += '=';
        break;
      case 1:
        throw new BuiltinError(`illegal base64url string: ${s}`);
    }
  }
  // Go's decoder skips CR and LF wherever they are.
  const body = padded.replace(LINE_BREAKS, '');
  if (body.length % 4 !== 0 || !BASE64URL_PADDED.test(body)) throw new BuiltinError(`illegal base64 data in ${JSON.stringify(s)}`);
  return Buffer.from(body, 'base64url');
}

const HEX = /^[0-9a-fA-F]*$/;

function hexDecode(s: string): string {
  if (!HEX.test(s)) throw new BuiltinError('encoding/hex: invalid byte');
  if (s.length % 2 !== 0) throw new BuiltinError('encoding/hex: odd length hex string');
  return Buffer.from(s, 'hex').toString('utf8');
}

// Bytes Go's url.QueryEscape leaves alone; every other byte becomes %XX, and space '+'.
const QUERY_UNRESERVED = /^[A-Za-z0-9\-_.~]$/;

/** Go's url.QueryEscape. */
export function queryEscape(s: string): string {
  let out = '';
  for (const b of utf8Bytes(s)) {
    const ch = String.fromCharCode(b);
    if (QUERY_UNRESERVED.test(ch)) out += ch;
    else if (b === 0x20) out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function isHexDigit(c: string): boolean {
  return c !== '' && HEX.test(c);
}

/** Go's url.QueryUnescape: '+' is space, every '%' must start a valid escape. */
export function queryUnescape(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (c === '%') {
      if (!isHexDigit(s.charAt(i + 1)) || !isHexDigit(s.charAt(i + 2))) throw new BuiltinError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c === '+') {
      bytes.push(0x20);
    } else {
      // Non-ASCII text passes through as its own UTF-8 bytes.
      const cp = s.codePointAt(i) ?? 0;
      const ch = String.fromCodePoint(cp);
      for (const b of utf8Bytes(ch)) bytes.push(b);
      i += ch.length - 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function encodeObjectValue(v: BuiltinValue | undefined): string[] {
  if (typeof v === 'string') return [v];
  // A set's members come in Go OPA's order, as Go iterates them.
  const items = Array.isArray(v) ? v : v instanceof RegoSet ? v.members : undefined;
  if (items !== undefined) {
    const strings = items.filter((e): e is string => typeof e === 'string');
    if (strings.length === items.length) return strings;
  }
  throw new BuiltinError('operand 1 values must be string, array[string], or set[string]');
}

/** Go's url.Values.Encode: keys in byte order, each value escaped, pairs joined by '&'. */
function encodeQueryObject(obj: BuiltinObject): string {
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort(compareGoStrings)) {
    const k = queryEscape(key);
    for (const v of encodeObjectValue(obj[key])) parts.push(`${k}=${queryEscape(v)}`);
  }
  return parts.join('&');
}

// Go's net/url refuses queries with more parameters than this (urlmaxqueryparams default).
const MAX_QUERY_PARAMS = 10000;

/** Go's url.ParseQuery: any bad pair (semicolon, bad escape) fails the whole call. */
function parseQuery(query: string): ResultObject {
  const pairs = query.split('&');
  if (pairs.length > MAX_QUERY_PARAMS) throw new BuiltinError('number of URL query parameters exceeded limit');
  const out: ResultObject = {};
  for (const pair of pairs) {
    if (pair.includes(';')) throw new BuiltinError('invalid semicolon separator in query');
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
    const value = queryUnescape(eq < 0 ? '' : pair.slice(eq + 1));
    const existing = Object.prototype.hasOwnProperty.call(out, key) ? out[key] : undefined;
    if (Array.isArray(existing)) existing.push(value);
    else setOwn(out, key, [value]);
  }
  return out;
}

export const encodingBuiltins: ReadonlyArray<readonly [string, BuiltinFn]> = [
  ['base64url.encode_no_pad', (s) => utf8Bytes(stringOperand(s, 1)).toString('base64url')],
  ['hex.encode', (s) => utf8Bytes(stringOperand(s, 1)).toString('hex')],
  ['hex.decode', (s) => hexDecode(stringOperand(s, 1))],
  ['urlquery.encode', (s) => queryEscape(stringOperand(s, 1))],
  ['urlquery.decode', (s) => queryUnescape(stringOperand(s, 1))],
  [
    'urlquery.encode_object',
    (o) => {
      if (!isObject(o)) throw new BuiltinError('operand 1 must be object');
      return encodeQueryObject(o);
    },
  ],
  ['urlquery.decode_object', (s) => parseQuery(stringOperand(s, 1))],
];
