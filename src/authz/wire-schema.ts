// Decode tables for CheckRequest, built once from the project's .proto files so the per-request
// decoder only indexes arrays by field number. The same protos yield two tables because the
// reference plugin shows the two API versions differently: v3 through its protomap (JSON names,
// oneof members as plain keys), v2 through Go's encoding/json of the generated structs (proto
// names, oneofs as {"Wrapper": {"Member": value}} and null when unset).
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import protobuf from 'protobufjs';
import type { ApiVersion } from './types.js';
import { WIRE_LEN, WIRE_VARINT } from './wire-reader.js';

/** Where the .proto files live, from src/authz or dist/authz alike. */
export const PROTO_DIR = fileURLToPath(new URL('../../protos/', import.meta.url));

export const Kind = {
  String: 0,
  /** bytes shown as base64 text, as Go's JSON encoders print []byte. */
  BytesBase64: 1,
  /** bytes kept as a Uint8Array view (raw_body: the input builder needs the bytes). */
  BytesView: 2,
  Bool: 3,
  /** int32 and enums: Go shows enums by number. */
  Int32: 4,
  Uint32: 5,
  Int64: 6,
  Message: 7,
  /** google.protobuf.Struct: plain JSON in both versions. */
  Struct: 8,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export const Card = {
  /** proto3 scalar without presence: absent when it holds its zero value. */
  Singular: 0,
  /** oneof member: present whenever set, even to a zero value; setting it clears its siblings. */
  Oneof: 1,
  Repeated: 2,
  /** map<string, V>; the value is described by `mapValue`. */
  Map: 3,
} as const;
export type Card = (typeof Card)[keyof typeof Card];

export interface FieldSpec {
  readonly key: string;
  readonly wireType: number;
  readonly kind: Kind;
  readonly card: Card;
  /** Table of the field's message type (Kind.Message only). */
  readonly message: MessageSpec | undefined;
  /** v3 oneof member: the keys of the other members, deleted when this one is set. */
  readonly siblings: readonly string[];
  /** v2 oneof member: the key of the Go interface field that holds {key: value}. */
  readonly wrapper: string;
  readonly mapValue: FieldSpec | undefined;
}

export interface MessageSpec {
  /** Full proto name, for error messages. */
  readonly name: string;
  /** Indexed by field number; holes for numbers the proto does not define. */
  readonly fields: (FieldSpec | undefined)[];
  /** v2: oneof wrapper keys, which encoding/json prints as null while no member is set. */
  readonly nullKeys: string[];
}

const STRUCT_TYPE = 'google.protobuf.Struct';
const RAW_BODY_FIELDS = new Set([
  'envoy.service.auth.v3.AttributeContext.HttpRequest.raw_body',
]);
const SCALAR_KINDS: Readonly<Record<string, Kind>> = {
  string: Kind.String,
  bytes: Kind.BytesBase64,
  bool: Kind.Bool,
  int32: Kind.Int32,
  uint32: Kind.Uint32,
  int64: Kind.Int64,
};

/** protoc's JSON name: underscores dropped, the letter after each one upper-cased. */
function jsonName(name: string): string {
  let out = '';
  let upper = false;
  for (const c of name) {
    if (c === '_') upper = true;
    else {
      out += upper ? c.toUpperCase() : c;
      upper = false;
    }
  }
  return out;
}

/** protoc-gen-go's Go identifier for a field or oneof name (the key encoding/json uses for oneofs). */
function goCamelCase(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === '_' && i + 1 < name.length && isLower(name[i + 1]!)) continue;
    if (c >= '0' && c <= '9') {
      out += c;
      continue;
    }
    out += c === '_' && i === 0 ? 'X' : c.toUpperCase();
    while (i + 1 < name.length && isLower(name[i + 1]!)) out += name[++i];
  }
  return out;
}

function isLower(c: string): boolean {
  return c >= 'a' && c <= 'z';
}

function trimDot(fullName: string): string {
  return fullName.startsWith('.') ? fullName.slice(1) : fullName;
}

export function loadProtoRoot(): protobuf.Root {
  const root = new protobuf.Root();
  // Well-known google/protobuf types come from protobufjs's bundled copies.
  root.resolvePath = (_origin, target) =>
    target.startsWith('google/protobuf/') ? target : path.join(PROTO_DIR, target);
  root.loadSync(
    ['envoy/service/auth/v3/external_auth.proto', 'envoy/service/auth/v2/external_auth.proto'],
    { keepCase: true },
  );
  root.resolveAll();
  return root;
}

class SpecBuilder {
  private readonly specs = new Map<string, MessageSpec>();

  constructor(private readonly version: ApiVersion) {}

  message(type: protobuf.Type): MessageSpec {
    const name = trimDot(type.fullName);
    const known = this.specs.get(name);
    if (known) return known;
    const spec: MessageSpec = { name, fields: [], nullKeys: [] };
    this.specs.set(name, spec);
    for (const field of type.fieldsArray) spec.fields[field.id] = this.field(name, field);
    if (this.version === 'v2') {
      for (const oneof of type.oneofsArray) spec.nullKeys.push(goCamelCase(oneof.name));
    }
    return spec;
  }

  private field(owner: string, field: protobuf.Field): FieldSpec {
    const where = `${owner}.${field.name}`;
    if (field instanceof protobuf.MapField) {
      if (field.keyType !== 'string') throw new Error(`${where}: only string map keys are supported`);
      const value = this.valueSpec(where, field, 'value');
      return makeField(this.key(field), WIRE_LEN, Kind.Message, Card.Map, undefined, [], '', value);
    }
    const value = this.valueSpec(where, field, this.key(field));
    if (field.repeated) {
      if (value.kind !== Kind.Message) throw new Error(`${where}: only repeated messages are supported`);
      return { ...value, card: Card.Repeated };
    }
    const oneof = field.partOf;
    if (!oneof) return value;
    if (this.version === 'v2') return { ...value, card: Card.Oneof, wrapper: goCamelCase(oneof.name) };
    const siblings = oneof.fieldsArray.filter((f) => f !== field).map((f) => this.key(f));
    return { ...value, card: Card.Oneof, siblings };
  }

  private key(field: protobuf.Field): string {
    if (this.version === 'v3') return jsonName(field.name);
    return field.partOf ? goCamelCase(field.name) : field.name;
  }

  /** The singular shape of a field's values (for maps: of the map's values). */
  private valueSpec(where: string, field: protobuf.Field, key: string): FieldSpec {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      if (trimDot(resolved.fullName) === STRUCT_TYPE) {
        return makeField(key, WIRE_LEN, Kind.Struct, Card.Singular, undefined, [], '', undefined);
      }
      return makeField(key, WIRE_LEN, Kind.Message, Card.Singular, this.message(resolved), [], '', undefined);
    }
    if (resolved instanceof protobuf.Enum) {
      return makeField(key, WIRE_VARINT, Kind.Int32, Card.Singular, undefined, [], '', undefined);
    }
    let kind = SCALAR_KINDS[field.type];
    if (kind === undefined) throw new Error(`${where}: type ${field.type} is not supported`);
    if (kind === Kind.BytesBase64 && RAW_BODY_FIELDS.has(where)) kind = Kind.BytesView;
    const wireType = kind === Kind.String || kind === Kind.BytesBase64 || kind === Kind.BytesView ? WIRE_LEN : WIRE_VARINT;
    return makeField(key, wireType, kind, Card.Singular, undefined, [], '', undefined);
  }
}

// One constructor keeps every FieldSpec the same shape, so the decoder's property reads stay monomorphic.
function makeField(
  key: string,
  wireType: number,
  kind: Kind,
  card: Card,
  message: MessageSpec | undefined,
  siblings: readonly string[],
  wrapper: string,
  mapValue: FieldSpec | undefined,
): FieldSpec {
  return { key, wireType, kind, card, message, siblings, wrapper, mapValue };
}

/** The CheckRequest tables for both API versions. */
export function buildCheckRequestSpecs(root: protobuf.Root): Record<ApiVersion, MessageSpec> {
  return {
    v3: new SpecBuilder('v3').message(root.lookupType('envoy.service.auth.v3.CheckRequest')),
    v2: new SpecBuilder('v2').message(root.lookupType('envoy.service.auth.v2.CheckRequest')),
  };
}
