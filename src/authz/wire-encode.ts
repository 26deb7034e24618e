// CheckResponse -> Envoy wire bytes, written by hand: one sizing pass records every nested
// message's length and every string's UTF-8 length (in the order the write pass needs them), then
// one write pass fills a single Buffer.allocUnsafe of the exact size. Fields go out in the order
// Go's marshaller uses (regular fields by number, then the oneof), so responses without maps are
// byte-identical to the reference plugin's.
//
// v2 gets what the reference plugin's v2 conversion keeps: status, and ok/denied responses with
// headers as plain key/value (it drops `append`); the v2 proto has no dynamic_metadata and its
// OkHttpResponse has only headers.
import type { ApiVersion, CheckResponse, DeniedHttpResponse, HeaderValueOption, Json, JsonObject, OkHttpResponse, QueryParameter } from './types.js';

// Tags are (field number << 3 | wire type); every field number here is < 16, so one byte each.
const T_RESPONSE_STATUS = 0x0a; // CheckResponse.status = 1
const T_RESPONSE_DENIED = 0x12; // CheckResponse.denied_response = 2
const T_RESPONSE_OK = 0x1a; // CheckResponse.ok_response = 3
const T_RESPONSE_METADATA = 0x22; // CheckResponse.dynamic_metadata = 4
const T_STATUS_CODE = 0x08; // google.rpc.Status.code = 1
const T_STATUS_MESSAGE = 0x12; // google.rpc.Status.message = 2
const T_DENIED_STATUS = 0x0a; // DeniedHttpResponse.status = 1
const T_DENIED_HEADERS = 0x12; // DeniedHttpResponse.headers = 2
const T_DENIED_BODY = 0x1a; // DeniedHttpResponse.body = 3
const T_HTTP_STATUS_CODE = 0x08; // HttpStatus.code = 1
const T_OK_HEADERS = 0x12; // OkHttpResponse.headers = 2
const T_OK_HEADERS_TO_REMOVE = 0x2a; // OkHttpResponse.headers_to_remove = 5
const T_OK_RESPONSE_HEADERS = 0x32; // OkHttpResponse.response_headers_to_add = 6
const T_OK_QUERY_SET = 0x3a; // OkHttpResponse.query_parameters_to_set = 7
const T_OK_QUERY_REMOVE = 0x42; // OkHttpResponse.query_parameters_to_remove = 8
const T_OPTION_HEADER = 0x0a; // HeaderValueOption.header = 1
const T_OPTION_APPEND = 0x12; // HeaderValueOption.append = 2 (google.protobuf.BoolValue)
const T_BOOL_VALUE = 0x08; // BoolValue.value = 1
const T_KEY = 0x0a; // HeaderValue.key, QueryParameter.key, map entry key = 1
const T_VALUE = 0x12; // HeaderValue.value, QueryParameter.value = 2 (string)
const T_STRUCT_FIELDS = 0x0a; // Struct.fields = 1 (map entries)
const T_ENTRY_VALUE = 0x12; // map entry value = 2 (message)
const T_NULL = 0x08; // Value.null_value = 1
const T_NUMBER = 0x11; // Value.number_value = 2 (double)
const T_STRING = 0x1a; // Value.string_value = 3
const T_BOOL = 0x20; // Value.bool_value = 4
const T_STRUCT = 0x2a; // Value.struct_value = 5
const T_LIST = 0x32; // Value.list_value = 6
const T_LIST_VALUES = 0x0a; // ListValue.values = 1

/**
 * Lengths found by the sizing pass, consumed in the same order by the write pass. Reused across
 * calls (the encoder is synchronous) and only ever grown, so a response costs no allocation
 * beyond its Buffer.
 */
const lengths: number[] = [];
let count = 0;
let next = 0;

export function encodeCheckResponse(response: CheckResponse, version: ApiVersion): Buffer {
  const v2 = version === 'v2';
  count = 0;
  const size = sizeResponse(response, v2);
  const w = new Writer(Buffer.allocUnsafe(size));
  next = 0;
  writeResponse(w, response, v2);
  return w.buf;
}

function varintSize(value: number): number {
  if (value < 0) return 10; // int32/enum negatives are sign-extended to 64 bits
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Records the UTF-8 length of `s` and returns the size of the whole field (tag + length + bytes). */
function stringField(s: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  lengths[count++] = n;
  return 1 + varintSize(n) + n;
}

/** Reserves a nested message's length slot before its content is sized (pre-order, as written). */
function reserve(): number {
  lengths[count] = 0;
  return count++;
}

/** Fills a reserved slot with the content size; returns the size of the whole field. */
function fill(slot: number, contentSize: number): number {
  lengths[slot] = contentSize;
  return 1 + varintSize(contentSize) + contentSize;
}

// Sizing pass. Every function below mirrors the write function of the same shape further down.

function sizeResponse(response: CheckResponse, v2: boolean): number {
  let slot = reserve();
  let size = fill(slot, sizeStatus(response.status));
  if (!v2 && response.dynamicMetadata) {
    slot = reserve();
    size += fill(slot, sizeStruct(response.dynamicMetadata));
  }
  if (response.deniedResponse) {
    slot = reserve();
    size += fill(slot, sizeDenied(response.deniedResponse, v2));
  }
  if (response.okResponse) {
    slot = reserve();
    size += fill(slot, sizeOk(response.okResponse, v2));
  }
  return size;
}

function sizeStatus(status: CheckResponse['status']): number {
  let size = status.code !== 0 ? 1 + varintSize(status.code) : 0;
  if (status.message) size += stringField(status.message);
  return size;
}

function sizeDenied(denied: DeniedHttpResponse, v2: boolean): number {
  let size = 0;
  const code = denied.status;
  if (code !== undefined) size += fill(reserve(), code !== 0 ? 1 + varintSize(code) : 0);
  size += sizeOptions(denied.headers, v2);
  if (denied.body) size += stringField(denied.body);
  return size;
}

function sizeOk(ok: OkHttpResponse, v2: boolean): number {
  let size = sizeOptions(ok.headers, v2);
  if (v2) return size;
  size += sizeStrings(ok.headersToRemove);
  size += sizeOptions(ok.responseHeadersToAdd, v2);
  size += sizeQueryParameters(ok.queryParametersToSet);
  size += sizeStrings(ok.queryParametersToRemove);
  return size;
}

function sizeOptions(options: HeaderValueOption[] | undefined, v2: boolean): number {
  let size = 0;
  if (!options) return size;
  for (const option of options) {
    const slot = reserve();
    size += fill(slot, sizeOption(option, v2));
  }
  return size;
}

function sizeOption(option: HeaderValueOption, v2: boolean): number {
  const slot = reserve();
  let size = fill(slot, sizeKeyValue(option.header.key, option.header.value));
  // append: tag, length, and the BoolValue content (empty for false, field 1 = true otherwise).
  if (!v2 && option.append !== undefined) size += option.append ? 4 : 2;
  return size;
}

function sizeKeyValue(key: string, value: string): number {
  let size = 0;
  if (key) size += stringField(key);
  if (value) size += stringField(value);
  return size;
}

function sizeQueryParameters(parameters: QueryParameter[] | undefined): number {
  let size = 0;
  if (!parameters) return size;
  for (const p of parameters) {
    const slot = reserve();
    size += fill(slot, sizeKeyValue(p.key, p.value));
  }
  return size;
}

function sizeStrings(strings: string[] | undefined): number {
  let size = 0;
  if (strings) for (const s of strings) size += stringField(s);
  return size;
}

function sizeStruct(object: JsonObject): number {
  let size = 0;
  for (const key in object) {
    const entrySlot = reserve();
    let entry = stringField(key);
    const valueSlot = reserve();
    entry += fill(valueSlot, sizeValue(object[key]!));
    size += fill(entrySlot, entry);
  }
  return size;
}

/** Size of a Value's content (its one oneof member). */
function sizeValue(value: Json): number {
  if (value === null) return 2;
  switch (typeof value) {
    case 'number':
      return 9;
    case 'boolean':
      return 2;
    case 'string':
      return stringField(value);
    default: {
      const slot = reserve();
      return fill(slot, Array.isArray(value) ? sizeList(value) : sizeStruct(value));
    }
  }
}

function sizeList(values: Json[]): number {
  let size = 0;
  for (const value of values) {
    const slot = reserve();
    size += fill(slot, sizeValue(value));
  }
  return size;
}

// Write pass.

class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  varint(value: number): void {
    if (value < 0) {
      this.negativeVarint(value);
      return;
    }
    while (value >= 0x80) {
      this.buf[this.pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buf[this.pos++] = value;
  }

  /** A negative int32 as protobuf sends it: two's complement over 64 bits, 10 bytes. */
  private negativeVarint(value: number): void {
    let lo = value >>> 0;
    for (let i = 0; i < 4; i++) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    // Bits 28..31 of the low word plus sign bits; the remaining bytes are all sign.
    this.buf[this.pos++] = (lo & 0x0f) | 0xf0;
    for (let i = 0; i < 4; i++) this.buf[this.pos++] = 0xff;
    this.buf[this.pos++] = 0x01;
  }

  /** Opens a nested message: writes its tag and the length the sizing pass recorded. */
  open(tag: number): void {
    this.buf[this.pos++] = tag;
    this.varint(lengths[next++]!);
  }

  string(tag: number, s: string): void {
    const n = lengths[next++]!;
    this.buf[this.pos++] = tag;
    this.varint(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }

  double(tag: number, value: number): void {
    this.buf[this.pos++] = tag;
    this.pos = this.buf.writeDoubleLE(value, this.pos);
  }
}

function writeResponse(w: Writer, response: CheckResponse, v2: boolean): void {
  w.open(T_RESPONSE_STATUS);
  writeStatus(w, response.status);
  if (!v2 && response.dynamicMetadata) {
    w.open(T_RESPONSE_METADATA);
    writeStruct(w, response.dynamicMetadata);
  }
  if (response.deniedResponse) {
    w.open(T_RESPONSE_DENIED);
    writeDenied(w, response.deniedResponse, v2);
  }
  if (response.okResponse) {
    w.open(T_RESPONSE_OK);
    writeOk(w, response.okResponse, v2);
  }
}

function writeStatus(w: Writer, status: CheckResponse['status']): void {
  if (status.code !== 0) {
    w.byte(T_STATUS_CODE);
    w.varint(status.code);
  }
  if (status.message) w.string(T_STATUS_MESSAGE, status.message);
}

function writeDenied(w: Writer, denied: DeniedHttpResponse, v2: boolean): void {
  const code = denied.status;
  if (code !== undefined) {
    w.open(T_DENIED_STATUS);
    if (code !== 0) {
      w.byte(T_HTTP_STATUS_CODE);
      w.varint(code);
    }
  }
  writeOptions(w, T_DENIED_HEADERS, denied.headers, v2);
  if (denied.body) w.string(T_DENIED_BODY, denied.body);
}

function writeOk(w: Writer, ok: OkHttpResponse, v2: boolean): void {
  writeOptions(w, T_OK_HEADERS, ok.headers, v2);
  if (v2) return;
  writeStrings(w, T_OK_HEADERS_TO_REMOVE, ok.headersToRemove);
  writeOptions(w, T_OK_RESPONSE_HEADERS, ok.responseHeadersToAdd, v2);
  if (ok.queryParametersToSet) {
    for (const p of ok.queryParametersToSet) {
      w.open(T_OK_QUERY_SET);
      writeKeyValue(w, p.key, p.value);
    }
  }
  writeStrings(w, T_OK_QUERY_REMOVE, ok.queryParametersToRemove);
}

function writeOptions(w: Writer, tag: number, options: HeaderValueOption[] | undefined, v2: boolean): void {
  if (!options) return;
  for (const option of options) {
    w.open(tag);
    w.open(T_OPTION_HEADER);
    writeKeyValue(w, option.header.key, option.header.value);
    if (!v2 && option.append !== undefined) {
      w.byte(T_OPTION_APPEND);
      if (option.append) {
        w.byte(2);
        w.byte(T_BOOL_VALUE);
        w.byte(1);
      } else {
        w.byte(0);
      }
    }
  }
}

function writeKeyValue(w: Writer, key: string, value: string): void {
  if (key) w.string(T_KEY, key);
  if (value) w.string(T_VALUE, value);
}

function writeStrings(w: Writer, tag: number, strings: string[] | undefined): void {
  if (strings) for (const s of strings) w.string(tag, s);
}

function writeStruct(w: Writer, object: JsonObject): void {
  for (const key in object) {
    w.open(T_STRUCT_FIELDS);
    w.string(T_KEY, key);
    w.open(T_ENTRY_VALUE);
    writeValue(w, object[key]!);
  }
}

function writeValue(w: Writer, value: Json): void {
  if (value === null) {
    w.byte(T_NULL);
    w.byte(0);
    return;
  }
  switch (typeof value) {
    case 'number':
      w.double(T_NUMBER, value);
      return;
    case 'boolean':
      w.byte(T_BOOL);
      w.byte(value ? 1 : 0);
      return;
    case 'string':
      w.string(T_STRING, value);
      return;
    default:
      if (Array.isArray(value)) {
        w.open(T_LIST);
        for (const item of value) {
          w.open(T_LIST_VALUES);
          writeValue(w, item);
        }
      } else {
        w.open(T_STRUCT);
        writeStruct(w, value);
      }
  }
}
