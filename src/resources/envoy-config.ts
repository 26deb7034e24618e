// The Envoy side of an OPAPolicy, as Kong Mesh's control plane configures it: the ext_authz HTTP filter
// pointing at this agent, the router after it, and the HTTP/2 cluster that reaches the agent. Written
// as Envoy's proto3 JSON (snake_case field names), ready for a bootstrap file or an xDS server.
import { isIP } from 'node:net';

export interface EnvoyConfigOptions {
  extAuthzAddr: string;
  authConfig: { statusOnError: number; onAgentFailure: 'allow' | 'deny'; maxSize: number; sendRawBody: boolean };
  clusterName?: string;
  timeoutMs?: number;
}

const DEFAULT_CLUSTER_NAME = 'kmesh_opa_ext_authz';
/** The OPA-Envoy plugin's documented Envoy example uses 0.5s: enough for a local policy, short enough to fail fast. */
const DEFAULT_TIMEOUT_MS = 500;

const EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** envoy.type.v3.StatusCode: Envoy's status_on_error can only carry these. */
const STATUS_CODE_NAMES: ReadonlyMap<number, string> = new Map([
  [100, 'Continue'],
  [200, 'OK'], [201, 'Created'], [202, 'Accepted'], [203, 'NonAuthoritativeInformation'], [204, 'NoContent'],
  [205, 'ResetContent'], [206, 'PartialContent'], [207, 'MultiStatus'], [208, 'AlreadyReported'], [226, 'IMUsed'],
  [300, 'MultipleChoices'], [301, 'MovedPermanently'], [302, 'Found'], [303, 'SeeOther'], [304, 'NotModified'],
  [305, 'UseProxy'], [307, 'TemporaryRedirect'], [308, 'PermanentRedirect'],
  [400, 'BadRequest'], [401, 'Unauthorized'], [402, 'PaymentRequired'], [403, 'Forbidden'], [404, 'NotFound'],
  [405, 'MethodNotAllowed'], [406, 'NotAcceptable'], [407, 'ProxyAuthenticationRequired'], [408, 'RequestTimeout'],
  [409, 'Conflict'], [410, 'Gone'], [411, 'LengthRequired'], [412, 'PreconditionFailed'], [413, 'PayloadTooLarge'],
  [414, 'URITooLong'], [415, 'UnsupportedMediaType'], [416, 'RangeNotSatisfiable'], [417, 'ExpectationFailed'],
  [421, 'MisdirectedRequest'], [422, 'UnprocessableEntity'], [423, 'Locked'], [424, 'FailedDependency'],
  [426, 'UpgradeRequired'], [428, 'PreconditionRequired'], [429, 'TooManyRequests'], [431, 'RequestHeaderFieldsTooLarge'],
  [500, 'InternalServerError'], [501, 'NotImplemented'], [502, 'BadGateway'], [503, 'ServiceUnavailable'],
  [504, 'GatewayTimeout'], [505, 'HTTPVersionNotSupported'], [506, 'VariantAlsoNegotiates'], [507, 'InsufficientStorage'],
  [508, 'LoopDetected'], [510, 'NotExtended'], [511, 'NetworkAuthenticationRequired'],
]);

export function statusCodeName(status: number): string {
  const name = STATUS_CODE_NAMES.get(status);
  if (!name) throw new Error(`statusOnError ${status} cannot be configured in Envoy: its StatusCode enum has no such status`);
  return name;
}

export function envoyConfig(o: EnvoyConfigOptions): { http_filters: unknown[]; clusters: unknown[] } {
  const clusterName = o.clusterName ?? DEFAULT_CLUSTER_NAME;
  return {
    http_filters: [extAuthzFilter(clusterName, o.authConfig, o.timeoutMs ?? DEFAULT_TIMEOUT_MS), { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
    clusters: [agentCluster(clusterName, o.extAuthzAddr)],
  };
}

function extAuthzFilter(clusterName: string, auth: EnvoyConfigOptions['authConfig'], timeoutMs: number): unknown {
  return {
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': EXT_AUTHZ_TYPE,
      grpc_service: { envoy_grpc: { cluster_name: clusterName }, timeout: duration(timeoutMs) },
      transport_api_version: 'V3',
      status_on_error: { code: statusCodeName(auth.statusOnError) },
      failure_mode_allow: auth.onAgentFailure === 'allow',
      ...(auth.maxSize > 0
        ? { with_request_body: { max_request_bytes: auth.maxSize, allow_partial_message: true, pack_as_bytes: auth.sendRawBody } }
        : {}),
    },
  };
}

/** proto3 JSON Duration: decimal seconds with an `s`. */
function duration(ms: number): string {
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`timeoutMs must be a positive whole number of milliseconds, not ${ms}`);
  return `${ms / 1000}s`;
}

function agentCluster(name: string, addr: string): unknown {
  const { address, port } = endpointOf(addr);
  return {
    name,
    type: 'STATIC',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address, port_value: port } } } }] }],
    },
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`, explicit_http_config: { http2_protocol_options: {} } },
    },
  };
}

/**
 * Where Envoy reaches the agent. A STATIC cluster takes IP addresses only; an agent listening on every
 * interface (0.0.0.0, ::) or on localhost is reached over loopback.
 */
function endpointOf(addr: string): { address: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) throw new Error(`extAuthzAddr ${JSON.stringify(addr)} is not host:port`);
  const host = m[1] ?? m[2] ?? '';
  if (host === '' || host === '0.0.0.0' || host === 'localhost') return { address: '127.0.0.1', port };
  if (host === '::') return { address: '::1', port };
  if (isIP(host) === 0) throw new Error(`extAuthzAddr ${JSON.stringify(addr)}: Envoy's STATIC cluster needs an IP address, not the name ${JSON.stringify(host)}`);
  return { address: host, port };
}
