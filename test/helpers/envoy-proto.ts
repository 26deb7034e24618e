// A strict check of Envoy configuration (proto3 JSON, snake_case) against Envoy's OFFICIAL protos (the
// envoy-api copy shipped by @grpc/grpc-js-xds): every key must be a field of its message (protobufjs
// alone would drop unknown keys), every Any must name a real type, and the result must encode.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';
import { ENVOY_INCLUDE_DIRS } from './envoy-client.js';

const require = createRequire(import.meta.url);
const PROTO_FILES = [
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/config/cluster/v3/cluster.proto',
];

function loadRoot(): protobuf.Root {
  const dirs = [...ENVOY_INCLUDE_DIRS, dirname(require.resolve('protobufjs/package.json'))];
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => dirs.map((d) => join(d, target)).find((c) => existsSync(c)) ?? target;
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

/** The official filter, cluster and ext_authz messages, loaded once (field names as written: snake_case). */
export const envoyProtoRoot = loadRoot();
export const HttpFilter = envoyProtoRoot.lookupType('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter');
export const Cluster = envoyProtoRoot.lookupType('envoy.config.cluster.v3.Cluster');
export const ExtAuthz = envoyProtoRoot.lookupType('envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');

const EXT_AUTHZ_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const TYPE_URL_PREFIX = 'type.googleapis.com/';
const DURATION = /^(\d+)(?:\.(\d{1,9}))?s$/;
const UNSIGNED_TYPES = new Set(['uint32', 'fixed32', 'uint64', 'fixed64']);
const INTEGER_TYPES = new Set([...UNSIGNED_TYPES, 'int32', 'sint32', 'sfixed32', 'int64', 'sint64', 'sfixed64']);
const TO_OBJECT = { enums: String, longs: Number };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks proto3 JSON against a message type, key by key, and returns the object protobufjs encodes
 * (Any packed to bytes, Duration split). Throws naming the path of the first key that is not a field.
 */
function strict(value: unknown, type: protobuf.Type, path: string): Record<string, unknown> {
  switch (type.fullName) {
    case '.google.protobuf.Any':
      return packAny(value, path);
    case '.google.protobuf.Duration': {
      const m = typeof value === 'string' ? DURATION.exec(value) : null;
      if (!m) throw new Error(`${path}: ${JSON.stringify(value)} is not a proto3 JSON Duration`);
      return { seconds: Number(m[1]), nanos: Number((m[2] ?? '').padEnd(9, '0')) };
    }
  }
  if (type.fullName.startsWith('.google.protobuf.') && type.fullName.endsWith('Value')) return { value: scalar(value, type.fields.value!, path) };
  if (!isObject(value)) throw new Error(`${path}: expected an object for ${type.fullName}`);
  const out: Record<string, unknown> = {};
  const oneofsSet = new Map<string, string>();
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key];
    if (!field) throw new Error(`${path}.${key}: not a field of ${type.fullName}`);
    if (field.partOf) {
      const other = oneofsSet.get(field.partOf.name);
      if (other) throw new Error(`${path}: ${other} and ${key} are both set in oneof ${field.partOf.name}`);
      oneofsSet.set(field.partOf.name, key);
    }
    out[key] = fieldValue(v, field, `${path}.${key}`);
  }
  return out;
}

function fieldValue(v: unknown, field: protobuf.Field, path: string): unknown {
  if (field.map) {
    if (!isObject(v)) throw new Error(`${path}: expected a map`);
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, single(e, field, `${path}[${JSON.stringify(k)}]`)]));
  }
  if (field.repeated) {
    if (!Array.isArray(v)) throw new Error(`${path}: expected a list`);
    return v.map((e, i) => single(e, field, `${path}[${i}]`));
  }
  return single(v, field, path);
}

function single(v: unknown, field: protobuf.Field, path: string): unknown {
  const resolved = field.resolve().resolvedType;
  if (resolved instanceof protobuf.Type) return strict(v, resolved, path);
  if (resolved instanceof protobuf.Enum) {
    if (typeof v !== 'string' || !(v in resolved.values)) throw new Error(`${path}: ${JSON.stringify(v)} is not a value of ${resolved.fullName}`);
    return v;
  }
  return scalar(v, field, path);
}

function scalar(v: unknown, field: protobuf.Field, path: string): unknown {
  const ok =
    field.type === 'bool' ? typeof v === 'boolean'
    : field.type === 'string' || field.type === 'bytes' ? typeof v === 'string'
    : INTEGER_TYPES.has(field.type) ? Number.isInteger(v) && (!UNSIGNED_TYPES.has(field.type) || (v as number) >= 0)
    : typeof v === 'number';
  if (!ok) throw new Error(`${path}: ${JSON.stringify(v)} is not a ${field.type}`);
  return v;
}

function packAny(value: unknown, path: string): Record<string, unknown> {
  if (!isObject(value) || typeof value['@type'] !== 'string' || !value['@type'].startsWith(TYPE_URL_PREFIX)) {
    throw new Error(`${path}: an Any needs "@type": "${TYPE_URL_PREFIX}<message>"`);
  }
  const { '@type': typeUrl, ...rest } = value;
  const inner = envoyProtoRoot.lookupType(typeUrl.slice(TYPE_URL_PREFIX.length));
  return { type_url: typeUrl, value: encodeStrict(rest, inner, `${path}<${inner.name}>`) };
}

/** Encodes proto3 JSON as `type` after the strict key-by-key check; throws naming the first bad path. */
export function encodeStrict(value: unknown, type: protobuf.Type, path: string): Uint8Array {
  const message = type.fromObject(strict(value, type, path));
  const problem = type.verify(message);
  if (problem) throw new Error(`${path}: ${problem}`);
  return type.encode(message).finish();
}

/** An ext_authz HttpFilter checked strictly, encoded, and its ExtAuthz config decoded back from the bytes. */
export function decodeExtAuthzFilter(filter: unknown, path = 'filter'): Record<string, unknown> {
  const decoded = HttpFilter.decode(encodeStrict(filter, HttpFilter, path)) as unknown as { typed_config?: { type_url: string; value: Uint8Array } };
  const any = decoded.typed_config;
  if (any?.type_url !== EXT_AUTHZ_TYPE_URL) throw new Error(`${path}: typed_config is ${any?.type_url ?? 'absent'}, not ${EXT_AUTHZ_TYPE_URL}`);
  return ExtAuthz.toObject(ExtAuthz.decode(any.value), TO_OBJECT);
}

/** A Cluster checked strictly, encoded and decoded back (Any values stay packed). */
export function decodeCluster(cluster: unknown, path = 'cluster'): Record<string, unknown> {
  return Cluster.toObject(Cluster.decode(encodeStrict(cluster, Cluster, path)), TO_OBJECT);
}

/** The message inside a packed Any (as decodeCluster leaves one). */
export function unpackAny(any: { type_url: string; value: Uint8Array }): Record<string, unknown> {
  const type = envoyProtoRoot.lookupType(any.type_url.slice(TYPE_URL_PREFIX.length));
  return type.toObject(type.decode(any.value), TO_OBJECT);
}
