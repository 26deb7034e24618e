// The Envoy configuration for an OPAPolicy, checked against Envoy's OFFICIAL protos with the strict
// verifier of test/helpers/envoy-proto.ts: every key must be a field of its message (protobufjs alone
// would drop unknown keys), every Any must name a real type, and the result must encode and decode back.
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Cluster, decodeCluster, decodeExtAuthzFilter, encodeStrict as encode, envoyProtoRoot as root, ExtAuthz, HttpFilter, unpackAny } from '../../helpers/envoy-proto.js';
import { envoyConfig, statusCodeName, type EnvoyConfigOptions } from '../../../src/resources/envoy-config.js';
import { resolveOpaPolicy } from '../../../src/resources/opapolicy.js';
import type { Resource } from '../../../src/resources/types.js';

const StatusCode = root.lookupEnum('envoy.type.v3.StatusCode');

/** The ExtAuthz config inside the first filter, decoded from its encoded bytes. */
function decodedExtAuthz(filters: unknown[]): Record<string, unknown> {
  return decodeExtAuthzFilter(filters[0], 'http_filters[0]');
}

/** The agent's defaults (settings.ts): 403, deny, no body. */
const DEFAULTS: EnvoyConfigOptions['authConfig'] = { statusOnError: 403, onAgentFailure: 'deny', maxSize: 0, sendRawBody: false };

describe('envoyConfig against the official protos', () => {
  it('encodes every filter and the cluster, with no key unknown to Envoy', () => {
    const config = envoyConfig({ extAuthzAddr: '127.0.0.1:9191', authConfig: DEFAULTS });
    config.http_filters.forEach((f, i) => encode(f, HttpFilter, `http_filters[${i}]`));
    config.clusters.forEach((c, i) => encode(c, Cluster, `clusters[${i}]`));
    expect(config.http_filters.map((f) => (f as { name: string }).name)).toEqual(['envoy.filters.http.ext_authz', 'envoy.filters.http.router']);
  });

  it('refuses a misspelt key (failure_mode_alow) that protobufjs alone would drop silently', () => {
    const filter = envoyConfig({ extAuthzAddr: '127.0.0.1:9191', authConfig: DEFAULTS }).http_filters[0] as { typed_config: Record<string, unknown> };
    const { failure_mode_allow, ...rest } = filter.typed_config;
    const misspelt = { ...filter, typed_config: { ...rest, failure_mode_alow: failure_mode_allow } };
    expect(ExtAuthz.toObject(ExtAuthz.fromObject({ failure_mode_alow: true }))).toEqual({});
    expect(() => encode(misspelt, HttpFilter, 'filter')).toThrow('filter.typed_config<ExtAuthz>.failure_mode_alow: not a field of .envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
  });

  it('refuses an Any whose @type names no Envoy message (ExtAuthzz)', () => {
    const filter = { name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzz' } };
    expect(() => encode(filter, HttpFilter, 'filter')).toThrow(/no such type/);
  });

  it('defaults: 403 Forbidden, failure_mode_allow false, no body, V3, 0.5s timeout to the agent cluster', () => {
    const config = envoyConfig({ extAuthzAddr: '127.0.0.1:9191', authConfig: DEFAULTS });
    expect(decodedExtAuthz(config.http_filters)).toEqual({
      grpc_service: { envoy_grpc: { cluster_name: 'kmesh_opa_ext_authz' }, timeout: { seconds: 0, nanos: 500_000_000 } },
      transport_api_version: 'V3',
      status_on_error: { code: 'Forbidden' },
      failure_mode_allow: false,
    });
  });

  it('the cluster is STATIC, HTTP/2, and reaches the agent at its address', () => {
    const [cluster] = envoyConfig({ extAuthzAddr: '127.0.0.1:9191', authConfig: DEFAULTS, clusterName: 'opa' }).clusters;
    const decoded = decodeCluster(cluster);
    expect(decoded.name).toBe('opa');
    expect(decoded.type).toBe('STATIC');
    expect(decoded.load_assignment).toEqual({
      cluster_name: 'opa',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9191 } } } }] }],
    });
    const options = (decoded.typed_extension_protocol_options as Record<string, { type_url: string; value: Uint8Array }>)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!;
    expect(unpackAny(options)).toEqual({ explicit_http_config: { http2_protocol_options: {} } });
  });

  it('a custom timeout is a proto3 Duration', () => {
    const config = envoyConfig({ extAuthzAddr: '127.0.0.1:9191', authConfig: DEFAULTS, timeoutMs: 1250 });
    expect((decodedExtAuthz(config.http_filters).grpc_service as { timeout: unknown }).timeout).toEqual({ seconds: 1, nanos: 250_000_000 });
  });

  it('refuses a timeout of 0 ms', () => {
    expect(() => envoyConfig({ extAuthzAddr: '127.0.0.1:9191', authConfig: DEFAULTS, timeoutMs: 0 })).toThrow('timeoutMs must be a positive');
  });
});

describe('status_on_error: Envoy StatusCode enum names', () => {
  const official = Object.entries(StatusCode.values).filter(([, n]) => n !== 0);

  it('names every status of the official enum as Envoy does', () => {
    for (const [name, code] of official) expect(statusCodeName(code)).toBe(name);
  });

  it('throws for every 100-599 status the enum lacks (418 among them)', () => {
    const known = new Set(official.map(([, code]) => code));
    const missing = Array.from({ length: 500 }, (_, i) => i + 100).filter((s) => !known.has(s));
    expect(missing).toContain(418);
    for (const status of missing) expect(() => statusCodeName(status)).toThrow(`statusOnError ${status} cannot be configured in Envoy`);
    expect(() => envoyConfig({ extAuthzAddr: '127.0.0.1:9191', authConfig: { ...DEFAULTS, statusOnError: 418 } })).toThrow('418');
  });
});

describe('agent address', () => {
  const socket = (addr: string) => {
    const [cluster] = envoyConfig({ extAuthzAddr: addr, authConfig: DEFAULTS }).clusters as { load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: unknown } } }[] }[] } }[];
    return cluster!.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address;
  };

  it('the default localhost:9191, 0.0.0.0 and :port are reached over 127.0.0.1', () => {
    for (const addr of ['localhost:9191', '0.0.0.0:9191', ':9191']) expect(socket(addr)).toEqual({ address: '127.0.0.1', port_value: 9191 });
  });

  it('IPv6 literals are kept; [::] becomes ::1', () => {
    expect(socket('[::1]:9191')).toEqual({ address: '::1', port_value: 9191 });
    expect(socket('[::]:9191')).toEqual({ address: '::1', port_value: 9191 });
  });

  it('refuses a host name (opa.internal) a STATIC cluster cannot take, and a missing port', () => {
    expect(() => socket('opa.internal:9191')).toThrow('STATIC cluster needs an IP address');
    expect(() => socket('127.0.0.1')).toThrow('is not host:port');
  });
});

// The seed page's "Configuring the authorization filter" example (Kubernetes form, its spec as Universal).
const SEED_AUTH_CONFIG_POLICY = `
type: OPAPolicy
mesh: default
name: opa-1
selectors:
- match:
    kuma.io/service: '*'
conf:
  authConfig: # optional
      statusOnError: 413 # optional: defaults to 403.
      onAgentFailure: allow # optional: one of 'allow' or 'deny', defaults to 'deny' defines the behaviour when communication with the agent fails or the policy execution fails.
      requestBody: # optional
          maxSize: 1024 # the max number of bytes to send to the agent, if we exceed this, the request to the agent will have: \`x-envoy-auth-partial-body: true\`.
          sendRawBody: true # use when the body is not plaintext. The agent request will have \`raw_body\` instead of \`body\`
  agentConfig: # optional
    inlineString: | # one of: inlineString, secret
      decision_logs:
        console: true
  policies:
    - secret: opa-policy
`;

describe('seed authConfig → filter', () => {
  const secret: Resource = { type: 'Secret', mesh: 'default', name: 'opa-policy', data: Buffer.from('package envoy.authz\n').toString('base64') };

  function filterFor(policyYaml: string): Record<string, unknown> {
    const { authConfig } = resolveOpaPolicy(parse(policyYaml) as Resource, (n) => (n === secret.name ? secret : undefined));
    return decodedExtAuthz(envoyConfig({ extAuthzAddr: '127.0.0.1:9191', authConfig: { ...DEFAULTS, ...authConfig } }).http_filters);
  }

  it('413 / allow / 1024 / sendRawBody: PayloadTooLarge, failure_mode_allow, body packed as bytes', () => {
    expect(filterFor(SEED_AUTH_CONFIG_POLICY)).toEqual({
      grpc_service: { envoy_grpc: { cluster_name: 'kmesh_opa_ext_authz' }, timeout: { seconds: 0, nanos: 500_000_000 } },
      transport_api_version: 'V3',
      status_on_error: { code: 'PayloadTooLarge' },
      failure_mode_allow: true,
      with_request_body: { max_request_bytes: 1024, allow_partial_message: true, pack_as_bytes: true },
    });
  });

  it('a policy without authConfig (the seed inline example) gets the defaults: no body sent', () => {
    const withoutAuth = SEED_AUTH_CONFIG_POLICY.replace(/ {2}authConfig:[\s\S]*?(?= {2}agentConfig)/, '');
    expect(withoutAuth).not.toContain('authConfig');
    const ext = filterFor(withoutAuth);
    expect(ext.with_request_body).toBeUndefined();
    expect(ext.status_on_error).toEqual({ code: 'Forbidden' });
    expect(ext.failure_mode_allow).toBe(false);
  });

  it('maxSize without sendRawBody sends the body as text (pack_as_bytes false)', () => {
    const ext = decodedExtAuthz(envoyConfig({ extAuthzAddr: '127.0.0.1:9191', authConfig: { ...DEFAULTS, maxSize: 8192 } }).http_filters);
    expect(ext.with_request_body).toEqual({ max_request_bytes: 8192, allow_partial_message: true, pack_as_bytes: false });
  });
});
