// The ext_authz listener: grpc-js does the HTTP/2 framing; the service definitions come from this
// project's protos via proto-loader, with the Check messages' (de)serializers replaced by the
// hand-written codec in authz/wire.ts (so no generic protobuf reflection runs per request).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation } from 'grpc-health-check';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApiVersion, CheckResponse, DecodedRequest } from '../authz/types.js';
import { decodeCheckRequest, encodeCheckResponse, RequestParseError } from '../authz/wire.js';

export const PROTO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'protos');

const SERVICES: Record<ApiVersion, { file: string; service: string }> = {
  v3: { file: 'envoy/service/auth/v3/external_auth.proto', service: 'envoy.service.auth.v3.Authorization' },
  v2: { file: 'envoy/service/auth/v2/external_auth.proto', service: 'envoy.service.auth.v2.Authorization' },
};

/** A request that decoded, or one that is valid protobuf but unreadable as the plugin reads it. */
export type CheckRequestValue = DecodedRequest | RequestParseError;

export type CheckHandler = (req: CheckRequestValue, version: ApiVersion) => CheckResponse;

export interface GrpcServerOptions {
  /** host:port as grpc-js binds it. */
  address: string;
  maxRecvMsgSize: number;
  maxSendMsgSize: number;
  check: CheckHandler;
  /** Last resort when the handler itself throws (a bug): still an answer, never a crash. */
  onHandlerError: (err: unknown, version: ApiVersion) => CheckResponse;
  /** Serve grpc.reflection (plugins.envoy_ext_authz_grpc.enable-reflection). */
  enableReflection: boolean;
}

/** How long unary calls already received may take to finish before remaining streams are cut. */
const STREAM_DRAIN_MS = 1000;

/** The services grpc.health.v1 reports on: the server as a whole ('') and each Authorization API. */
const HEALTH_SERVICES = ['', SERVICES.v3.service, SERVICES.v2.service];

export interface RunningGrpcServer {
  readonly server: grpc.Server;
  readonly port: number;
  /** grpc.health.v1 status: SERVING only while a policy is loaded and the server is not stopping. */
  setServing(serving: boolean): void;
  /** Stops accepting; in-flight calls finish (bounded by `graceMs`, then forced). */
  close(graceMs: number): Promise<void>;
}

function loadPackage(version: ApiVersion): protoLoader.PackageDefinition {
  // Relative to the include dir, so that every file (and every import) is known by its proto path.
  // keepCase: field names as written, which is what reflection clients show (the codec does the wire work).
  return protoLoader.loadSync(SERVICES[version].file, { includeDirs: [PROTO_DIR], keepCase: true });
}

function serviceDefinition(version: ApiVersion, pkg: protoLoader.PackageDefinition): grpc.ServiceDefinition {
  const { file, service } = SERVICES[version];
  const def = pkg[service] as protoLoader.ServiceDefinition | undefined;
  if (!def?.Check) throw new Error(`${file} does not define ${service}.Check`);
  return {
    Check: {
      ...def.Check,
      // Malformed protobuf throws (grpc-js answers INTERNAL, as grpc-go does); a request the plugin would
      // answer with request_parse_error travels on to the handler as a value.
      requestDeserialize: (bytes: Buffer): CheckRequestValue => {
        try {
          return decodeCheckRequest(bytes, version);
        } catch (err) {
          if (err instanceof RequestParseError) return err;
          throw err;
        }
      },
      responseSerialize: (res: CheckResponse) => encodeCheckResponse(res, version),
    },
  } as grpc.ServiceDefinition;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxRecvMsgSize,
    'grpc.max_send_message_length': options.maxSendMsgSize,
  });
  const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((name) => [name, 'NOT_SERVING' as const])));
  health.addToServer(server);
  const packages: protoLoader.PackageDefinition[] = [];
  for (const version of ['v3', 'v2'] as const) {
    const pkg = loadPackage(version);
    packages.push(pkg);
    const handler: grpc.handleUnaryCall<CheckRequestValue, CheckResponse> = (call, callback) => {
      let response: CheckResponse;
      try {
        response = options.check(call.request, version);
      } catch (err) {
        response = options.onHandlerError(err, version);
      }
      callback(null, response);
    };
    server.addService(serviceDefinition(version, pkg), { Check: handler });
  }
  if (options.enableReflection) {
    // Loaded only when asked for: it is a large module few deployments enable.
    const { addReflection } = await import('./reflection.js');
    await addReflection(server, packages);
  }
  const port = await new Promise<number>((resolvePort, reject) => {
    server.bindAsync(options.address, grpc.ServerCredentials.createInsecure(), (err, boundPort) => {
      if (err) reject(new Error(`cannot listen on ${options.address} (ext_authz gRPC): ${err.message}`));
      else resolvePort(boundPort);
    });
  });
  return {
    server,
    port,
    setServing: (serving) => {
      for (const name of HEALTH_SERVICES) health.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
    },
    close: (graceMs) =>
      new Promise<void>((resolveClose) => {
        // Checks are answered synchronously once their bytes are in, so unary calls drain within moments;
        // what stays open after that are health Watch streams (already told NOT_SERVING), which would
        // otherwise hold the shutdown for the whole grace period.
        const timer = setTimeout(() => server.forceShutdown(), Math.min(graceMs, STREAM_DRAIN_MS));
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolveClose();
        });
      }),
  };
}
