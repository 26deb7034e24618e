// Low-level protobuf wire reading with the same acceptance rules as Go's protobuf runtime
// (google.golang.org/protobuf, which the reference plugin uses through grpc-go): what Go rejects
// throws WireError, what Go tolerates (non-minimal varints, unknown fields, unknown groups) is read.
import { isUtf8 } from 'node:buffer';

/** Malformed protobuf input; the message says what was wrong and at which byte of which message. */
export class WireError extends Error {
  override name = 'WireError';
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

/** Go's protowire.DefaultRecursionLimit: how deeply messages, and separately unknown groups, may nest. */
export const RECURSION_LIMIT = 10000;

const TWO_POW_32 = 4294967296;

/**
 * A cursor over one request's bytes. Varints are read as two 32-bit halves: the low half is
 * returned and the high half left in `hi`, so no BigInt or allocation is needed per number.
 */
export class Reader {
  readonly buf: Buffer;
  pos = 0;
  /** High 32 bits of the varint read last. */
  hi = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  fail(what: string, at: number, where: string): never {
    throw new WireError(`${what} at byte ${at} of ${where}`);
  }

  /** Reads a varint ending before `end`; returns its low 32 bits (unsigned), high bits in `hi`. */
  varint(end: number, where: string): number {
    const pos = this.pos;
    if (pos < end) {
      const b = this.buf[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        this.hi = 0;
        return b;
      }
    }
    return this.varintSlow(end, where);
  }

  private varintSlow(end: number, where: string): number {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    let lo = 0;
    let hi = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) this.fail('truncated varint', start, where);
      b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) return this.doneVarint(pos, lo, 0);
    }
    if (pos >= end) this.fail('truncated varint', start, where);
    b = buf[pos++]!;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b < 0x80) return this.doneVarint(pos, lo, hi);
    for (let shift = 3; shift < 31; shift += 7) {
      if (pos >= end) this.fail('truncated varint', start, where);
      b = buf[pos++]!;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) return this.doneVarint(pos, lo, hi);
    }
    if (pos >= end) this.fail('truncated varint', start, where);
    b = buf[pos++]!;
    // The tenth byte may only carry bit 63; anything else overflows 64 bits (Go rejects it).
    if (b > 1) this.fail('varint overflows 64 bits', start, where);
    return this.doneVarint(pos, lo, hi | (b << 31));
  }

  private doneVarint(pos: number, lo: number, hi: number): number {
    this.pos = pos;
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  /** Reads a field tag; returns fieldNumber << 3 | wireType (always < 2^32). */
  tag(end: number, where: string): number {
    const at = this.pos;
    const v = this.varint(end, where);
    if (this.hi !== 0 || v < 8) this.fail('invalid field number', at, where);
    return v;
  }

  /** Reads a length prefix and checks the bytes it announces are inside `end`. */
  length(end: number, where: string): number {
    const at = this.pos;
    const n = this.varint(end, where);
    if (this.hi !== 0 || n > end - this.pos) this.fail('length past end of message', at, where);
    return n;
  }

  /** Reads the length prefix of a nested message; returns where that message ends. */
  limit(end: number, where: string): number {
    const n = this.length(end, where);
    return this.pos + n;
  }

  int64(end: number, where: string): number {
    const lo = this.varint(end, where);
    return (this.hi | 0) * TWO_POW_32 + lo;
  }

  double(end: number, where: string): number {
    const pos = this.pos;
    if (end - pos < 8) this.fail('truncated fixed64', pos, where);
    this.pos = pos + 8;
    return this.buf.readDoubleLE(pos);
  }

  /** A proto3 string: Go refuses invalid UTF-8 ("string field contains invalid UTF-8"). */
  string(end: number, where: string): string {
    const at = this.pos;
    const n = this.length(end, where);
    const start = this.pos;
    const stop = start + n;
    this.pos = stop;
    const buf = this.buf;
    for (let i = start; i < stop; i++) {
      if (buf[i]! >= 0x80) {
        if (!isUtf8(buf.subarray(start, stop))) this.fail('string field contains invalid UTF-8', at, where);
        return buf.toString('utf8', start, stop);
      }
    }
    return buf.toString('latin1', start, stop);
  }

  /** Bytes as a view into the request buffer: no copy, lives as long as the decoded request. */
  bytesView(end: number, where: string): Uint8Array {
    const n = this.length(end, where);
    const start = this.pos;
    this.pos = start + n;
    return this.buf.subarray(start, start + n);
  }

  /** Bytes in the base64 text Go's JSON encoders give []byte. */
  bytesBase64(end: number, where: string): string {
    const n = this.length(end, where);
    const start = this.pos;
    this.pos = start + n;
    return this.buf.toString('base64', start, start + n);
  }

  /** Skips one field value of wire type `wireType`, as Go does for unknown or mistyped fields. */
  skip(wireType: number, fieldNumber: number, end: number, where: string): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint(end, where);
        return;
      case WIRE_FIXED64:
        this.skipFixed(8, end, where);
        return;
      case WIRE_LEN: {
        const n = this.length(end, where);
        this.pos += n;
        return;
      }
      case WIRE_FIXED32:
        this.skipFixed(4, end, where);
        return;
      case WIRE_START_GROUP:
        this.skipGroup(fieldNumber, end, where);
        return;
      case WIRE_END_GROUP:
        this.fail('end-group without start-group', this.pos, where);
      default:
        this.fail(`invalid wire type ${wireType}`, this.pos, where);
    }
  }

  private skipFixed(size: number, end: number, where: string): void {
    if (end - this.pos < size) this.fail(`truncated fixed${size * 8}`, this.pos, where);
    this.pos += size;
  }

  /** Groups are only ever skipped; iterative so deep nesting cannot exhaust the JS stack. */
  private skipGroup(fieldNumber: number, end: number, where: string): void {
    const open: number[] = [fieldNumber];
    while (open.length > 0) {
      const at = this.pos;
      const tag = this.tag(end, where);
      const wireType = tag & 7;
      const number = tag >>> 3;
      if (wireType === WIRE_END_GROUP) {
        if (open.pop() !== number) this.fail('mismatched end-group', at, where);
      } else if (wireType === WIRE_START_GROUP) {
        // Go allows RECURSION_LIMIT groups inside the outermost one.
        if (open.length > RECURSION_LIMIT) this.fail('groups nested too deep', at, where);
        open.push(number);
      } else {
        this.skip(wireType, number, end, where);
      }
    }
  }
}
