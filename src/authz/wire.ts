// The ext_authz codec plugged into grpc-js: CheckRequest bytes -> the document the reference plugin
// builds (see DecodedRequest), and CheckResponse -> bytes (wire-encode.ts).
//
// Decoding follows Go's protobuf runtime: fields merge like proto.Unmarshal (last scalar wins,
// repeated messages merge, oneof members replace each other, map entries replace by key), unknown
// fields and fields sent with an unexpected wire type are skipped, and what Go rejects (bad tags,
// truncation, invalid UTF-8 in strings, too deep nesting) throws WireError.
import type { ApiVersion, DecodedRequest, HttpView } from './types.js';
import { Card, Kind, buildCheckRequestSpecs, loadProtoRoot, type FieldSpec, type MessageSpec } from './wire-schema.js';
import {
  RECURSION_LIMIT,
  Reader,
  WIRE_FIXED64,
  WIRE_LEN,
  WIRE_VARINT,
  WireError,
} from './wire-reader.js';

export { WireError } from './wire-reader.js';
import { RequestParseError } from './errors.js';
export { encodeCheckResponse } from './wire-encode.js';

// A v2 request the reference accepts on the wire can still fail Go's encoding/json (Struct values in
// metadata_context): that is a RequestParseError, answered like any other unreadable request.
export { RequestParseError } from './errors.js';

const SPECS = buildCheckRequestSpecs(loadProtoRoot());

type Obj = Record<string, unknown>;

/** A google.protobuf.Value with no kind set, which v2's JSON encoding refuses (v3 shows null). */
const NO_KIND: unique symbol = Symbol('google.protobuf.Value without kind');

/** Per-request state beside the Reader: which version's rules apply and what v2 found unencodable. */
interface Ctx {
  readonly r: Reader;
  readonly v2: boolean;
  /** v2 only: a Value without kind or with a non-finite number was seen somewhere. */
  badValue: boolean;
  /** Messages currently open, counted as Go counts them (map entries included) for its limit. */
  depth: number;
}

export function decodeCheckRequest(bytes: Uint8Array, version: ApiVersion): DecodedRequest {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ctx: Ctx = { r: new Reader(buf), v2: version === 'v2', badValue: false, depth: 1 };
  const spec = SPECS[version];
  const doc = newObject(spec);
  try {
    decodeMessage(ctx, buf.length, spec, doc);
  } catch (err) {
    // Go refuses more than RECURSION_LIMIT nested messages, and so does enter(); Struct values
    // nested a few thousand levels can exhaust the JS stack even below that limit. Either way the
    // request is refused as malformed, never a crash.
    if (err instanceof RangeError) throw new WireError(`exceeded maximum recursion depth (${err.message})`);
    throw err;
  }
  if (ctx.badValue) checkV2Values(doc);
  return { doc, http: httpView(doc, ctx.v2), sourcePrincipal: sourcePrincipal(doc) };
}

function newObject(spec: MessageSpec): Obj {
  const obj: Obj = {};
  for (const key of spec.nullKeys) obj[key] = null;
  return obj;
}

/** Decodes fields up to `end` into `obj` (which may already hold fields: merging is Go's rule). */
function decodeMessage(ctx: Ctx, end: number, spec: MessageSpec, obj: Obj): void {
  const r = ctx.r;
  const fields = spec.fields;
  while (r.pos < end) {
    const tag = r.tag(end, spec.name);
    const number = tag >>> 3;
    const wireType = tag & 7;
    const field = number < fields.length ? fields[number] : undefined;
    if (field === undefined || field.wireType !== wireType) {
      r.skip(wireType, number, end, spec.name);
      continue;
    }
    switch (field.card) {
      case Card.Singular:
        decodeSingular(ctx, end, spec, field, obj);
        break;
      case Card.Oneof:
        if (ctx.v2) decodeOneofV2(ctx, end, spec, field, obj);
        else decodeOneofV3(ctx, end, spec, field, obj);
        break;
      case Card.Repeated:
        decodeRepeated(ctx, end, spec, field, obj);
        break;
      case Card.Map:
        decodeMapEntry(ctx, end, spec, field, obj);
        break;
    }
  }
}

function decodeSingular(ctx: Ctx, end: number, spec: MessageSpec, field: FieldSpec, obj: Obj): void {
  const key = field.key;
  if (field.kind === Kind.Message || field.kind === Kind.Struct) {
    obj[key] = decodeNested(ctx, end, spec, field, obj[key]);
    return;
  }
  const value = readScalar(ctx.r, end, spec.name, field.kind);
  // proto3 fields without presence vanish at their zero value (both Go encoders omit them).
  if (isZero(value)) {
    if (key in obj) delete obj[key];
  } else {
    obj[key] = value;
  }
}

function decodeOneofV3(ctx: Ctx, end: number, spec: MessageSpec, field: FieldSpec, obj: Obj): void {
  const previous = obj[field.key];
  if (previous === undefined) {
    for (const sibling of field.siblings) if (sibling in obj) delete obj[sibling];
  }
  obj[field.key] = isNested(field)
    ? decodeNested(ctx, end, spec, field, previous)
    : readScalar(ctx.r, end, spec.name, field.kind);
}

function decodeOneofV2(ctx: Ctx, end: number, spec: MessageSpec, field: FieldSpec, obj: Obj): void {
  const holder = obj[field.wrapper] as Obj | null;
  if (isNested(field)) {
    const previous = holder === null ? undefined : holder[field.key];
    const value = decodeNested(ctx, end, spec, field, previous);
    if (previous === undefined) obj[field.wrapper] = { [field.key]: value };
    return;
  }
  obj[field.wrapper] = { [field.key]: readScalar(ctx.r, end, spec.name, field.kind) };
}

function decodeRepeated(ctx: Ctx, end: number, spec: MessageSpec, field: FieldSpec, obj: Obj): void {
  const list = (obj[field.key] ??= []) as unknown[];
  list.push(decodeNested(ctx, end, spec, field, undefined));
}

/** One map entry (a nested message with key = 1 and value = 2); a repeated key replaces the earlier one. */
function decodeMapEntry(ctx: Ctx, end: number, spec: MessageSpec, field: FieldSpec, obj: Obj): void {
  const r = ctx.r;
  const stop = enter(ctx, end, spec.name);
  const valueSpec = field.mapValue!;
  let key = '';
  let value: unknown;
  while (r.pos < stop) {
    const tag = r.tag(stop, spec.name);
    if (tag === ((1 << 3) | WIRE_LEN)) key = r.string(stop, spec.name);
    else if (tag === ((2 << 3) | valueSpec.wireType)) {
      value = isNested(valueSpec)
        ? decodeNested(ctx, stop, spec, valueSpec, value)
        : readScalar(r, stop, spec.name, valueSpec.kind);
    } else r.skip(tag & 7, tag >>> 3, stop, spec.name);
  }
  ctx.depth--;
  const map = (obj[field.key] ??= {}) as Obj;
  setKey(map, key, value === undefined ? zeroValue(valueSpec) : value);
}

/** Reads a length-delimited message field, merging into `previous` when that field was already set. */
function decodeNested(ctx: Ctx, end: number, spec: MessageSpec, field: FieldSpec, previous: unknown): Obj {
  const stop = enter(ctx, end, spec.name);
  let target: Obj;
  if (field.kind === Kind.Struct) {
    target = (previous ?? {}) as Obj;
    decodeStruct(ctx, stop, target);
  } else {
    const child = field.message!;
    target = (previous ?? newObject(child)) as Obj;
    decodeMessage(ctx, stop, child, target);
  }
  ctx.depth--;
  return target;
}

/** Opens a length-delimited nested message; returns where it ends. The caller closes it (depth--). */
function enter(ctx: Ctx, end: number, where: string): number {
  const r = ctx.r;
  if (++ctx.depth > RECURSION_LIMIT) r.fail('exceeded maximum recursion depth', r.pos, where);
  return r.limit(end, where);
}

function readScalar(r: Reader, end: number, where: string, kind: Kind): unknown {
  switch (kind) {
    case Kind.String:
      return r.string(end, where);
    case Kind.BytesBase64:
      return r.bytesBase64(end, where);
    case Kind.BytesView:
      return r.bytesView(end, where);
    case Kind.Bool:
      return (r.varint(end, where) | r.hi) !== 0;
    case Kind.Int32:
      return r.varint(end, where) | 0;
    case Kind.Uint32:
      return r.varint(end, where);
    default:
      return r.int64(end, where);
  }
}

function isNested(field: FieldSpec): boolean {
  return field.kind === Kind.Message || field.kind === Kind.Struct;
}

function isZero(value: unknown): boolean {
  return value === '' || value === 0 || value === false || (value instanceof Uint8Array && value.length === 0);
}

function zeroValue(field: FieldSpec): unknown {
  if (field.kind === Kind.Struct) return {};
  if (field.kind === Kind.Message) return newObject(field.message!);
  return '';
}

/** Assigns a key taken from the wire; "__proto__" must become an own property, not a prototype. */
function setKey(obj: Obj, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

// google.protobuf.Struct / Value / ListValue, decoded straight to plain JSON: v3's protomap uses
// Struct.AsMap and v2's encoding/json calls Struct.MarshalJSON (protojson), both plain JSON.

const STRUCT = 'google.protobuf.Struct';
const VALUE = 'google.protobuf.Value';
const LIST = 'google.protobuf.ListValue';
const TAG_STRUCT_FIELDS = (1 << 3) | WIRE_LEN;
const TAG_ENTRY_KEY = (1 << 3) | WIRE_LEN;
const TAG_ENTRY_VALUE = (2 << 3) | WIRE_LEN;
const TAG_NULL = (1 << 3) | WIRE_VARINT;
const TAG_NUMBER = (2 << 3) | WIRE_FIXED64;
const TAG_STRING = (3 << 3) | WIRE_LEN;
const TAG_BOOL = (4 << 3) | WIRE_VARINT;
const TAG_STRUCT_VALUE = (5 << 3) | WIRE_LEN;
const TAG_LIST_VALUE = (6 << 3) | WIRE_LEN;
const TAG_LIST_VALUES = (1 << 3) | WIRE_LEN;

function decodeStruct(ctx: Ctx, end: number, target: Obj): void {
  const r = ctx.r;
  while (r.pos < end) {
    const tag = r.tag(end, STRUCT);
    if (tag !== TAG_STRUCT_FIELDS) {
      r.skip(tag & 7, tag >>> 3, end, STRUCT);
      continue;
    }
    const stop = enter(ctx, end, STRUCT);
    let key = '';
    let value: unknown;
    while (r.pos < stop) {
      const entryTag = r.tag(stop, STRUCT);
      if (entryTag === TAG_ENTRY_KEY) key = r.string(stop, STRUCT);
      else if (entryTag === TAG_ENTRY_VALUE) value = decodeValue(ctx, stop, value);
      else r.skip(entryTag & 7, entryTag >>> 3, stop, STRUCT);
    }
    ctx.depth--;
    setKey(target, key, value === undefined ? noKind(ctx) : value);
  }
}

/** Reads a length-delimited Value; `previous` is the same Value's earlier content (merge). */
function decodeValue(ctx: Ctx, end: number, previous: unknown): unknown {
  const r = ctx.r;
  const stop = enter(ctx, end, VALUE);
  let value = previous;
  while (r.pos < stop) {
    const tag = r.tag(stop, VALUE);
    switch (tag) {
      case TAG_NULL:
        r.varint(stop, VALUE);
        value = null;
        break;
      case TAG_NUMBER: {
        const n = r.double(stop, VALUE);
        value = n;
        if (!Number.isFinite(n)) {
          // v2: Go's encoding/json refuses them (request_parse_error). v3: OPA turns Go's NaN/±Inf
          // float64 into the strings the policy sees, which JSON could not carry as numbers anyway.
          if (ctx.v2) ctx.badValue = true;
          else value = Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
        }
        break;
      }
      case TAG_STRING:
        value = r.string(stop, VALUE);
        break;
      case TAG_BOOL:
        value = (r.varint(stop, VALUE) | r.hi) !== 0;
        break;
      case TAG_STRUCT_VALUE: {
        const target = isStructObject(value) ? value : {};
        decodeStruct(ctx, enter(ctx, stop, VALUE), target);
        ctx.depth--;
        value = target;
        break;
      }
      case TAG_LIST_VALUE: {
        const target = Array.isArray(value) ? value : [];
        decodeList(ctx, enter(ctx, stop, VALUE), target);
        ctx.depth--;
        value = target;
        break;
      }
      default:
        r.skip(tag & 7, tag >>> 3, stop, VALUE);
    }
  }
  ctx.depth--;
  return value;
}

function decodeList(ctx: Ctx, end: number, target: unknown[]): void {
  const r = ctx.r;
  while (r.pos < end) {
    const tag = r.tag(end, LIST);
    if (tag !== TAG_LIST_VALUES) {
      r.skip(tag & 7, tag >>> 3, end, LIST);
      continue;
    }
    const value = decodeValue(ctx, end, undefined);
    target.push(value === undefined ? noKind(ctx) : value);
  }
}

function isStructObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A Value with no kind: AsMap (v3) gives nil; v2's protojson refuses it (reported after decoding). */
function noKind(ctx: Ctx): unknown {
  if (!ctx.v2) return null;
  ctx.badValue = true;
  return NO_KIND;
}

/**
 * Throws what Go's encoding/json trips over first, if a refused Value survived decoding (a later
 * value or map entry may have replaced it). Go walks metadata_context.filter_metadata and each
 * Struct in sorted key order (encoding/json and protojson both sort map keys).
 */
function checkV2Values(doc: Obj): void {
  const attributes = doc['attributes'] as Obj | undefined;
  const metadata = attributes?.['metadata_context'] as Obj | undefined;
  const problem = firstBadValue(metadata?.['filter_metadata']);
  if (problem === undefined) return;
  throw new RequestParseError(`json: error calling MarshalJSON for type *structpb.Struct: proto: ${problem}`);
}

function firstBadValue(value: unknown): string | undefined {
  if (value === NO_KIND) return 'google.protobuf.Value: none of the oneof fields is set';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'google.protobuf.Value.number_value: invalid NaN value';
    if (!Number.isFinite(value)) return `google.protobuf.Value.number_value: invalid ${value > 0 ? '+' : '-'}Inf value`;
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const items = Array.isArray(value) ? value : Object.keys(value).sort().map((k) => (value as Obj)[k]);
  for (const item of items) {
    const problem = firstBadValue(item);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * The plugin reads path/body/headers through nil-safe getters, so a request without
 * attributes.request.http behaves as an empty one, but its input gets no http object. The view's
 * `object` is then a fresh object that is NOT attached to `doc`, keeping the input identical.
 */
function httpView(doc: Obj, v2: boolean): HttpView {
  const attributes = doc['attributes'] as Obj | undefined;
  const request = attributes?.['request'] as Obj | undefined;
  const http = request?.['http'] as Obj | undefined;
  if (http === undefined) return { object: {}, path: '', body: '', rawBody: undefined, headers: {} };
  return {
    object: http,
    path: (http['path'] as string | undefined) ?? '',
    body: (http['body'] as string | undefined) ?? '',
    // The plugin ignores raw bytes on v2 (the v2 proto has no raw_body field).
    rawBody: v2 ? undefined : (http['rawBody'] as Uint8Array | undefined),
    headers: (http['headers'] as Record<string, string> | undefined) ?? {},
  };
}

function sourcePrincipal(doc: Obj): string {
  const attributes = doc['attributes'] as Obj | undefined;
  const source = attributes?.['source'] as Obj | undefined;
  return (source?.['principal'] as string | undefined) ?? '';
}
