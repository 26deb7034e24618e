// @ts-check
// Envoy's official ext_authz v3 protos (as vendored by @grpc/grpc-js-xds), loaded once. ghz reads the
// same files, so the decision pre-check, the micro-benchmark and the load all send one request shape.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPS = join(PROJECT_ROOT, 'node_modules', '@grpc', 'grpc-js-xds', 'deps');

/** What ghz gets as --proto and -i. */
export const PROTO_FILE = join(DEPS, 'envoy-api', 'envoy', 'service', 'auth', 'v3', 'external_auth.proto');
export const IMPORT_PATHS = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(DEPS, d));
export const CHECK_METHOD = 'envoy.service.auth.v3.Authorization.Check';

export const OK = 0;
export const PERMISSION_DENIED = 7;

/** @type {protoLoader.MethodDefinition<object, { status?: { code?: number } }> | undefined} */
let checkDefinition;

function check() {
  if (!checkDefinition) {
    const pkg = protoLoader.loadSync(PROTO_FILE, { includeDirs: IMPORT_PATHS });
    const service = /** @type {protoLoader.ServiceDefinition | undefined} */ (pkg['envoy.service.auth.v3.Authorization']);
    if (!service?.Check) throw new Error(`${PROTO_FILE} has no envoy.service.auth.v3.Authorization.Check`);
    checkDefinition = /** @type {protoLoader.MethodDefinition<object, { status?: { code?: number } }>} */ (service.Check);
  }
  return checkDefinition;
}

/**
 * protojson (what ghz's -D takes) -> the object protobufjs takes. The two agree on lowerCamelCase
 * field names; only google.protobuf.Timestamp differs (an RFC 3339 string vs {seconds, nanos}).
 * @param {Record<string, unknown>} request
 * @returns {Record<string, unknown>}
 */
function fromProtojson(request) {
  return JSON.parse(JSON.stringify(request), (key, value) => {
    if (key === 'time' && typeof value === 'string') return timestamp(value);
    return value;
  });
}

/**
 * RFC 3339 (UTC, as protojson writes it) -> google.protobuf.Timestamp, nanoseconds kept.
 * @param {string} text
 */
function timestamp(text) {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(text);
  if (!match) throw new Error(`not an RFC 3339 UTC timestamp: ${text}`);
  return { seconds: Date.parse(`${match[1]}Z`) / 1000, nanos: Number((match[2] ?? '').padEnd(9, '0')) };
}

/**
 * The CheckRequest as bytes on the wire, encoded by protobufjs from the official schema.
 * @param {Record<string, unknown>} request protojson
 * @returns {Buffer}
 */
export function encodeCheckRequest(request) {
  return check().requestSerialize(fromProtojson(request));
}

/**
 * Sends one Check over a fresh channel and resolves to the google.rpc.Status code of the answer.
 * @param {string} address host:port
 * @param {Record<string, unknown>} request protojson
 * @param {number} [timeoutMs]
 * @returns {Promise<number>}
 */
export function checkOnce(address, request, timeoutMs = 5000) {
  const def = check();
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolveCode, reject) => {
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      fromProtojson(request),
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, response) => {
        client.close();
        if (err) reject(err);
        else resolveCode(response?.status?.code ?? OK);
      },
    );
  });
}
