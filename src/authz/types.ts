// Shapes shared by the hot path's modules: wire (bytes <-> objects), input (request -> input
// document), response (decision -> CheckResponse) and check (the path that ties them together).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Which ext_authz service a request came in on. */
export type ApiVersion = 'v2' | 'v3';

/**
 * A decoded CheckRequest, shaped as the Go plugin sees it before it adds the parsed_* keys:
 * v3 is the plugin's `protomap` (populated fields only, JSON names, int64/enums as numbers,
 * Timestamp as {seconds, nanos}, Struct as plain JSON); v2 is Go's encoding/json of the
 * go-control-plane structs. Bytes fields (raw_body) stay Uint8Array until the input builder
 * turns them into the base64 text the plugin shows.
 */
export interface DecodedRequest {
  /** The whole request document; becomes the input's top level. */
  doc: Record<string, unknown>;
  /** attributes.request.http as found in `doc` (mutable, shared with `doc`); absent when Envoy sent none. */
  http: HttpView;
  /** attributes.source.principal, '' when unset. */
  sourcePrincipal: string;
}

/** The parts of attributes.request.http that the input builder reads or rewrites. */
export interface HttpView {
  /**
   * attributes.request.http inside `doc`, so edits (the agent's body limit) show in the input. When the
   * request has none it is a fresh object NOT attached to `doc` (the plugin's input then has no http),
   * with path and body '' and no rawBody.
   */
  object: Record<string, unknown>;
  path: string;
  body: string;
  rawBody: Uint8Array | undefined;
  /** Header map as Envoy sent it (keys already lower-case). Same object as object.headers when present. */
  headers: Record<string, string>;
}

/** Kong Mesh authConfig, as the agent applies it. */
export interface AuthConfig {
  /** HTTP status of the denial the agent itself sends when the policy cannot decide. */
  statusOnError: number;
  /** What a check gets when evaluation fails: deny (statusOnError) or allow. */
  onAgentFailure: 'allow' | 'deny';
  /** Bytes of body the policy sees at most; 0 means no agent-side limit. */
  maxSize: number;
  /** Present the body as raw_body bytes instead of body text. */
  sendRawBody: boolean;
}

export interface HeaderValueOption {
  header: { key: string; value: string };
  /** google.protobuf.BoolValue in the proto: undefined means "not set". */
  append?: boolean;
}

export interface QueryParameter {
  key: string;
  value: string;
}

export interface OkHttpResponse {
  headers?: HeaderValueOption[];
  headersToRemove?: string[];
  responseHeadersToAdd?: HeaderValueOption[];
  queryParametersToSet?: QueryParameter[];
  queryParametersToRemove?: string[];
}

export interface DeniedHttpResponse {
  /** envoy.type(.v3).StatusCode number; undefined leaves the field unset. */
  status?: number;
  headers?: HeaderValueOption[];
  body?: string;
}

/** envoy.service.auth.v3.CheckResponse (v2 is encoded from the same object). */
export interface CheckResponse {
  /** google.rpc.Status: 0 OK, 7 PERMISSION_DENIED. */
  status: { code: number; message?: string };
  okResponse?: OkHttpResponse;
  deniedResponse?: DeniedHttpResponse;
  dynamicMetadata?: JsonObject;
}
