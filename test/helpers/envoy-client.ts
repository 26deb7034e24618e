// A client that speaks Envoy's own protos (the official envoy-api copies shipped by @grpc/grpc-js-xds),
// so the tests prove that the server's hand-written protos are wire-compatible with Envoy's.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import protobuf from 'protobufjs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const XDS_DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
export const ENVOY_INCLUDE_DIRS = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(XDS_DEPS, d));
// grpc-js-xds ships Envoy's v2 ext_authz service protos but not the v2 core ones they import
// (envoy/api/v2/core/*); only those few fall back to this project's copies.
const V2_FALLBACK_DIR = fileURLToPath(new URL('../../protos', import.meta.url));

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: ENVOY_INCLUDE_DIRS,
};

export type CheckResponseObject = {
  status?: { code?: number; message?: string };
  ok_response?: Record<string, unknown>;
  denied_response?: { status?: { code?: string | number }; headers?: unknown[]; body?: string };
  dynamic_metadata?: { fields?: Record<string, unknown> };
  http_response?: string;
};

export interface EnvoyClient {
  check(request: Record<string, unknown>, options?: { deadlineMs?: number }): Promise<CheckResponseObject>;
  close(): void;
}

const definitions = new Map<string, grpc.GrpcObject>();

function load(version: 'v2' | 'v3'): grpc.GrpcObject {
  let def = definitions.get(version);
  if (!def) {
    const file = `envoy/service/auth/${version}/external_auth.proto`;
    const includeDirs = version === 'v2' ? [...ENVOY_INCLUDE_DIRS, V2_FALLBACK_DIR] : ENVOY_INCLUDE_DIRS;
    def = grpc.loadPackageDefinition(protoLoader.loadSync(file, { ...LOADER_OPTIONS, includeDirs }));
    definitions.set(version, def);
  }
  return def;
}

type ServiceCtor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client;

function authorization(version: 'v2' | 'v3'): ServiceCtor & { service: grpc.ServiceDefinition } {
  const root = load(version) as unknown as { envoy: { service: { auth: Record<string, { Authorization: ServiceCtor & { service: grpc.ServiceDefinition } }> } } };
  return root.envoy.service.auth[version]!.Authorization;
}

/** Decodes CheckResponse bytes (from a raw call) exactly as envoyClient's check() would. */
export function decodeCheckResponse(bytes: Buffer, version: 'v2' | 'v3' = 'v3'): CheckResponseObject {
  return authorization(version).service.Check!.responseDeserialize(bytes) as CheckResponseObject;
}

/** Encodes a CheckRequest object to bytes as envoyClient's check() would (for raw calls). */
export function encodeCheckRequest(request: Record<string, unknown>, version: 'v2' | 'v3' = 'v3'): Buffer {
  return authorization(version).service.Check!.requestSerialize(request);
}

export function envoyClient(address: string, version: 'v2' | 'v3' = 'v3'): EnvoyClient {
  const Ctor = authorization(version);
  const client = new Ctor(address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  const checkFn = (client as unknown as Record<string, Function>).Check!.bind(client) as (
    req: Record<string, unknown>,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: CheckResponseObject) => void,
  ) => void;
  return {
    check: (request, options = {}) =>
      new Promise((resolve, reject) => {
        checkFn(request, { deadline: Date.now() + (options.deadlineMs ?? 10_000) }, (err, res) => (err ? reject(err) : resolve(res)));
      }),
    close: () => client.close(),
  };
}

/** A v3 CheckRequest shaped like Envoy's: pseudo-headers, user-agent, x-request-id. */
export function httpRequest(http: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const headers = {
    ':authority': 'backend:3001',
    ':method': String(http.method ?? 'GET'),
    ':path': String(http.path ?? '/'),
    ':scheme': 'http',
    'user-agent': 'curl/8.5.0',
    'x-request-id': '1717af9c-2587-43b9-897f-f8061bba5ad4',
    ...(http.headers as Record<string, string> | undefined),
  };
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.1', port_value: 51234 } } },
      destination: { address: { socket_address: { address: '10.0.0.2', port_value: 3001 } } },
      request: { http: { id: '1', method: 'GET', path: '/', host: 'backend:3001', scheme: 'http', protocol: 'HTTP/1.1', ...http, headers } },
      ...extra,
    },
  };
}

/** Reads a google.protobuf.Struct as decoded by proto-loader (keepCase, oneofs) back into JSON. */
export function structToJson(struct: { fields?: Record<string, unknown> } | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(struct?.fields ?? {})) out[k] = valueToJson(v as Record<string, unknown>);
  return out;
}

// protobufjs decodes google.protobuf.Value with its built-in (camelCase) definition whatever keepCase says,
// so both spellings of the oneof are accepted.
function valueToJson(v: Record<string, unknown>): unknown {
  switch (v.kind) {
    case 'null_value':
    case 'nullValue':
      return null;
    case 'number_value':
    case 'numberValue':
      return v.number_value ?? v.numberValue;
    case 'string_value':
    case 'stringValue':
      return v.string_value ?? v.stringValue;
    case 'bool_value':
    case 'boolValue':
      return v.bool_value ?? v.boolValue;
    case 'struct_value':
    case 'structValue':
      return structToJson((v.struct_value ?? v.structValue) as { fields?: Record<string, unknown> });
    case 'list_value':
    case 'listValue':
      return (((v.list_value ?? v.listValue) as { values?: Record<string, unknown>[] }).values ?? []).map(valueToJson);
    default:
      throw new Error(`unexpected Value ${JSON.stringify(v)}`);
  }
}

let officialRoot: protobuf.Root | undefined;

/**
 * A message type from Envoy's official v3 ext_authz protos, for tests that encode or decode bytes
 * themselves (loaded once). v2 is wire compatible with v3 for every field v2 has.
 */
export function officialV3Type(fullName: string): protobuf.Type {
  if (!officialRoot) {
    const dirs = [...ENVOY_INCLUDE_DIRS, dirname(require.resolve('protobufjs/package.json'))];
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => dirs.map((d) => join(d, target)).find((c) => existsSync(c)) ?? target;
    root.loadSync('envoy/service/auth/v3/external_auth.proto');
    root.resolveAll();
    officialRoot = root;
  }
  return officialRoot.lookupType(fullName);
}
