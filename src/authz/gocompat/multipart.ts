// The reference's multipart/form-data body parsing: Go's mime/multipart Reader (NextPart, with its
// quoted-printable decoding and its 4096-byte line buffer), net/textproto part headers, and the
// plugin's loop that keeps parts with a form name: JSON parts decoded, others as text.
//
// Known divergence: a part without a form name that Go would stop draining early (a broken
// quoted-printable body) is skipped whole here, where Go would then fail on the leftover lines.
import { Buffer } from 'node:buffer';
import { unmarshalJsonBytes } from './json.js';
import { parseMediaType } from './mime.js';
import { decodeUtf8, GoError, hexDigit, quote } from './text.js';

// bufio.Reader sizes: multipart's peek buffer and quotedprintable's default reader.
const LINE_BUFFER = 4096;
// textproto limits as multipart applies them.
const MAX_HEADER_BYTES = (10 << 20) - 400;
const HEADER_ENTRY_OVERHEAD = 200;
const MAX_HEADERS = 10000;
const INITIAL_LINE_QUOTE_LIMIT = 80;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const CRLF = Buffer.from('\r\n');
const SPACE = Buffer.from(' ');

const tooLarge = (): GoError => new GoError('multipart: message too large');
const unexpectedEof = (): GoError => new GoError('unexpected EOF');

/** Form name -> values (parsed JSON for application/json parts, text otherwise), as the plugin builds it. */
export function readMultipartForm(data: Uint8Array, boundary: string): Record<string, unknown[]> {
  const reader = new MultipartReader(data, boundary);
  const values: Record<string, unknown[]> = Object.create(null);
  for (let headers = reader.nextPart(); headers; headers = reader.nextPart()) {
    const name = formName(headers);
    const body = reader.partBody();
    if (name === '') {
      if (!body.complete) throw new GoError('multipart: NextPart: EOF');
      continue;
    }
    const value = partValue(headers, body);
    const list = values[name];
    if (list) list.push(value);
    else values[name] = [value];
  }
  return values;
}

type PartHeaders = Map<string, string>;

interface PartBody {
  data: Uint8Array;
  /** False when the input ended before the boundary closing this part. */
  complete: boolean;
}

function formName(headers: PartHeaders): string {
  try {
    const disposition = parseMediaType(headers.get('Content-Disposition') ?? '');
    return disposition.type === 'form-data' ? (disposition.params.get('name') ?? '') : '';
  } catch (err) {
    if (err instanceof GoError) return '';
    throw err;
  }
}

function partValue(headers: PartHeaders, body: PartBody): unknown {
  const encoding = headers.get('Content-Transfer-Encoding');
  let data = body.data;
  if (encoding !== undefined && encoding.toLowerCase() === 'quoted-printable') {
    data = decodeQuotedPrintable(data, body.complete);
  } else if (!body.complete) {
    throw unexpectedEof();
  }
  if ((headers.get('Content-Type') ?? '').includes('application/json')) return unmarshalJsonBytes(data);
  return decodeUtf8(data);
}

class MultipartReader {
  private pos = 0;
  private partsRead = 0;
  private nl: Buffer = CRLF;
  private nlDashBoundary: Buffer;
  private readonly dashBoundary: Buffer;
  private readonly dashBoundaryDash: Buffer;
  private readonly b: Buffer;

  constructor(data: Uint8Array, boundary: string) {
    this.b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const all = Buffer.from(`\r\n--${boundary}--`, 'utf8');
    this.nlDashBoundary = all.subarray(0, all.length - 2);
    this.dashBoundaryDash = all.subarray(2);
    this.dashBoundary = all.subarray(2, all.length - 2);
  }

  /** NextPart: the next part's headers, or undefined when the form is over. */
  nextPart(): PartHeaders | undefined {
    if (this.dashBoundary.length === 2) throw new GoError('multipart: boundary is empty');
    let expectNewPart = false;
    for (;;) {
      const { line, end } = this.readSlice();
      if (end === 'eof' && this.isFinalBoundary(line)) return undefined;
      if (end === 'eof') throw new GoError('multipart: NextPart: EOF');
      if (end === 'full') throw new GoError('multipart: NextPart: bufio: buffer full');
      if (this.isBoundaryDelimiterLine(line)) {
        this.partsRead++;
        return this.readHeaders();
      }
      if (this.isFinalBoundary(line)) return undefined;
      if (expectNewPart) throw new GoError(`multipart: expecting a new Part; got line ${quote(line)}`);
      if (this.partsRead === 0) continue; // preamble
      if (line.equals(this.nl)) {
        expectNewPart = true;
        continue;
      }
      throw new GoError(`multipart: unexpected line in Next(): ${quote(line)}`);
    }
  }

  /** The current part's bytes up to the boundary line that ends it (Go's partReader). */
  partBody(): PartBody {
    const b = this.b;
    const start = this.pos;
    let from = start;
    // Only at the very start of a part may the boundary come without a line break before it.
    if (startsWith(b, start, this.dashBoundary)) {
      if (this.boundaryMatches(start + this.dashBoundary.length)) return { data: b.subarray(start, start), complete: true };
      from = start + this.dashBoundary.length;
    }
    for (;;) {
      const i = b.indexOf(this.nlDashBoundary, from);
      if (i < 0) {
        this.pos = b.length;
        return { data: b.subarray(start, this.heldBackFrom(from)), complete: false };
      }
      if (this.boundaryMatches(i + this.nlDashBoundary.length)) {
        this.pos = i;
        return { data: b.subarray(start, i), complete: true };
      }
      from = i + this.nlDashBoundary.length;
    }
  }

  // A boundary is one only if followed by whitespace, "--", or the end of input ("--b" is not "--bx").
  private boundaryMatches(after: number): boolean {
    const b = this.b;
    if (after === b.length) return true;
    const c = b[after];
    if (c === SP || c === TAB || c === CR || c === LF) return true;
    return c === 0x2d && b[after + 1] === 0x2d;
  }

  // Go's reader keeps back a tail that could still become a boundary; it never reaches the part.
  private heldBackFrom(from: number): number {
    const b = this.b;
    const i = b.lastIndexOf(this.nlDashBoundary[0] as number, b.length - 1);
    if (i >= from && this.nlDashBoundary.subarray(0, b.length - i).equals(b.subarray(i))) return i;
    return b.length;
  }

  /** bufio.Reader.ReadSlice('\n') with multipart's 4096-byte buffer. */
  private readSlice(): { line: Buffer; end: 'line' | 'eof' | 'full' } {
    const b = this.b;
    const start = this.pos;
    const i = b.indexOf(LF, start);
    if (i >= 0 && i - start < LINE_BUFFER) {
      this.pos = i + 1;
      return { line: b.subarray(start, i + 1), end: 'line' };
    }
    if (b.length - start < LINE_BUFFER) {
      this.pos = b.length;
      return { line: b.subarray(start), end: 'eof' };
    }
    this.pos = start + LINE_BUFFER;
    return { line: b.subarray(start, this.pos), end: 'full' };
  }

  private isFinalBoundary(line: Buffer): boolean {
    if (!startsWith(line, 0, this.dashBoundaryDash)) return false;
    const rest = skipLinearWhitespace(line.subarray(this.dashBoundaryDash.length));
    return rest.length === 0 || rest.equals(this.nl);
  }

  private isBoundaryDelimiterLine(line: Buffer): boolean {
    if (!startsWith(line, 0, this.dashBoundary)) return false;
    const rest = skipLinearWhitespace(line.subarray(this.dashBoundary.length));
    // A first boundary line ending in a bare \n switches the reader to \n line breaks.
    if (this.partsRead === 0 && rest.length === 1 && rest[0] === LF) {
      this.nl = this.nl.subarray(1);
      this.nlDashBoundary = this.nlDashBoundary.subarray(1);
    }
    return rest.equals(this.nl);
  }

  /** textproto's readMIMEHeader: canonical key -> first value; undefined when the input ends first. */
  private readHeaders(): PartHeaders | undefined {
    const b = this.b;
    if (b[this.pos] === SP || b[this.pos] === TAB) {
      const line = this.readLine() as Buffer;
      if (line.length > INITIAL_LINE_QUOTE_LIMIT) throw tooLarge();
      throw new GoError(`malformed MIME header initial line: ${quote(line)}`);
    }
    const headers: PartHeaders = new Map();
    let memory = MAX_HEADER_BYTES;
    let entries = MAX_HEADERS;
    for (;;) {
      const first = this.readLine();
      // Go's NextPart then returns io.EOF itself, which the plugin takes as the end of the form.
      if (first === undefined) return undefined;
      if (first.length > memory) throw tooLarge();
      if (first.length === 0) return headers;
      if (first.indexOf(0x3a) < 0) throw new GoError(`malformed MIME header: missing colon: ${quote(first)}`);
      const kv = this.continuedLine(first);
      const colon = kv.indexOf(0x3a);
      const key = canonicalHeaderKey(kv.subarray(0, colon));
      const rawValue = kv.subarray(colon + 1);
      if (key === undefined || !rawValue.every(validHeaderValueByte)) {
        throw new GoError(`malformed MIME header line: ${quote(kv)}`);
      }
      if (--entries < 0) throw tooLarge();
      const value = skipLinearWhitespace(rawValue);
      if (!headers.has(key)) memory -= key.length + HEADER_ENTRY_OVERHEAD;
      memory -= value.length;
      if (memory < 0) throw tooLarge();
      if (!headers.has(key)) headers.set(key, decodeUtf8(value));
    }
  }

  // Lines starting with a space or tab continue the previous one, joined by a single space.
  private continuedLine(first: Buffer): Buffer {
    const pieces = [trimLinearWhitespace(first)];
    while (this.skipSpace() > 0) {
      pieces.push(SPACE);
      const next = this.readLine();
      if (next === undefined) break;
      pieces.push(trimLinearWhitespace(next));
    }
    return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
  }

  /** bufio.Reader.ReadLine as textproto uses it: the line without \n or \r\n; undefined at EOF. */
  private readLine(): Buffer | undefined {
    const b = this.b;
    if (this.pos >= b.length) return undefined;
    const start = this.pos;
    const i = b.indexOf(LF, start);
    if (i < 0) {
      this.pos = b.length;
      return b.subarray(start);
    }
    this.pos = i + 1;
    return b.subarray(start, i > start && b[i - 1] === CR ? i - 1 : i);
  }

  private skipSpace(): number {
    const start = this.pos;
    while (this.b[this.pos] === SP || this.b[this.pos] === TAB) this.pos++;
    return this.pos - start;
  }
}

function startsWith(b: Buffer, at: number, prefix: Buffer): boolean {
  return b.length - at >= prefix.length && b.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0;
}

function skipLinearWhitespace(b: Buffer): Buffer {
  let i = 0;
  while (b[i] === SP || b[i] === TAB) i++;
  return b.subarray(i);
}

function trimLinearWhitespace(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && (b[end - 1] === SP || b[end - 1] === TAB)) end--;
  return skipLinearWhitespace(b.subarray(0, end));
}

// RFC 7230 token characters (textproto's set: no braces, unlike mime's).
const HEADER_FIELD_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  HEADER_FIELD_CHARS[c.charCodeAt(0)] = 1;
}

/** textproto's canonical key ("content-type" -> "Content-Type"); undefined for an invalid key. */
function canonicalHeaderKey(k: Buffer): string | undefined {
  if (k.length === 0) return undefined;
  let hasSpace = false;
  for (const c of k) {
    if (c < 0x80 && HEADER_FIELD_CHARS[c] === 1) continue;
    if (c !== SP) return undefined;
    hasSpace = true;
  }
  // A key with a space before the colon is accepted but left as written.
  if (hasSpace) return k.toString('latin1');
  let out = '';
  let upper = true;
  for (const c of k) {
    let ch = c;
    if (upper && ch >= 0x61 && ch <= 0x7a) ch -= 0x20;
    else if (!upper && ch >= 0x41 && ch <= 0x5a) ch += 0x20;
    out += String.fromCharCode(ch);
    upper = ch === 0x2d;
  }
  return out;
}

function validHeaderValueByte(c: number): boolean {
  return c >= 0x80 || c === TAB || (c >= SP && c !== 0x7f);
}

/**
 * Go's quotedprintable.Reader over a part body: soft line breaks, =XX escapes (a '=' not followed
 * by two hex digits is literal unless a line break follows it), trailing whitespace dropped, and
 * its errors in reading order.
 */
function decodeQuotedPrintable(data: Uint8Array, complete: boolean): Uint8Array {
  const out = Buffer.allocUnsafe(data.length);
  let w = 0;
  let pos = 0;
  while (pos < data.length) {
    const lf = data.indexOf(LF, pos);
    const found = lf >= 0 && lf - pos < LINE_BUFFER;
    const atEnd = !found && data.length - pos <= LINE_BUFFER;
    const whole = data.subarray(pos, found ? lf + 1 : atEnd ? data.length : pos + LINE_BUFFER);
    pos += whole.length;

    let lineEnd = whole.length;
    while (lineEnd > 0 && isQpDiscardWhitespace(whole[lineEnd - 1] as number)) lineEnd--;
    let line: Uint8Array = whole.subarray(0, lineEnd);
    let lineError: GoError | undefined;
    if (lineEnd > 0 && whole[lineEnd - 1] === 0x3d) {
      // Soft line break: '=' then only blanks up to the line break (or the very end of the body).
      let r = lineEnd;
      while (whole[r] === SP || whole[r] === TAB) r++;
      const rightStripped = whole.subarray(r);
      line = whole.subarray(0, lineEnd - 1);
      const breakFollows = rightStripped[0] === LF || (rightStripped[0] === CR && rightStripped[1] === LF);
      const endsBody = rightStripped.length === 0 && line.length > 0 && atEnd && complete;
      if (!breakFollows && !endsBody) lineError = new GoError(`quotedprintable: invalid bytes after =: ${quote(rightStripped)}`);
    } else if (found) {
      line = Buffer.concat([line, whole[whole.length - 2] === CR ? CRLF : CRLF.subarray(1)]);
    }

    for (let i = 0; i < line.length; i++) {
      const c = line[i] as number;
      if (c === 0x3d) {
        const escaped = qpHexByte(line, i + 1);
        if (typeof escaped === 'number') {
          out[w++] = escaped;
          i += 2;
          continue;
        }
        const next = line[i + 1];
        if (next === undefined || next === CR || next === LF) throw escaped;
        out[w++] = c; // a '=' that escapes nothing is taken literally
        continue;
      }
      if (c !== TAB && c !== CR && c !== LF && c < 0x80 && (c < SP || c > 0x7e)) {
        throw new GoError(`quotedprintable: invalid unescaped byte 0x${hex2(c)} in body`);
      }
      out[w++] = c;
    }
    if (lineError) throw lineError;
    if (!found && !atEnd) throw new GoError('bufio: buffer full');
  }
  if (!complete) throw unexpectedEof();
  return out.subarray(0, w);
}

function qpHexByte(line: Uint8Array, at: number): number | GoError {
  if (line.length - at < 2) return unexpectedEof();
  const hi = hexDigit(line[at]);
  if (hi < 0) return new GoError(`quotedprintable: invalid hex byte 0x${hex2(line[at] as number)}`);
  const lo = hexDigit(line[at + 1]);
  if (lo < 0) return new GoError(`quotedprintable: invalid hex byte 0x${hex2(line[at + 1] as number)}`);
  return (hi << 4) | lo;
}

function hex2(c: number): string {
  return c.toString(16).padStart(2, '0');
}

function isQpDiscardWhitespace(c: number): boolean {
  return c === LF || c === CR || c === SP || c === TAB;
}
