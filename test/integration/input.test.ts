// Every key of the input document, end to end: Envoy-shaped CheckRequests over gRPC, echoed back by
// test/policies/echo.rego. Expected values are what the Go OPA-Envoy plugin gives for the same requests
// (see differential-input.test.ts) or, for the agent's own authConfig.requestBody settings, what Envoy
// itself would have sent (max_request_bytes with allow_partial_message, pack_as_bytes).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoedInput, jsonToStruct } from '../helpers/differential.js';
import { envoyClient, httpRequest, type EnvoyClient } from '../helpers/envoy-client.js';
import { POLICIES, startAgent, type AgentProcess } from '../helpers/tools.js';

const ECHO = join(POLICIES, 'echo.rego');
type Version = 'v2' | 'v3';
type Doc = Record<string, unknown>;

/** attributes.request.http of an echoed input. */
function httpOf(input: Doc): Doc {
  const http = ((input.attributes as Doc | undefined)?.request as Doc | undefined)?.http;
  if (typeof http !== 'object' || http === null) throw new Error(`no attributes.request.http in ${JSON.stringify(input)}`);
  return http as Doc;
}

interface Echo {
  agent: AgentProcess;
  clients: Record<Version, EnvoyClient>;
  input(request: Record<string, unknown>, version?: Version): Promise<Doc>;
}

async function echoAgent(flags: string[]): Promise<Echo> {
  const agent = await startAgent([ECHO, ...flags]);
  const clients = { v2: envoyClient(agent.address, 'v2'), v3: envoyClient(agent.address, 'v3') };
  return {
    agent,
    clients,
    input: async (request, version = 'v3') => (await echoedInput(clients[version], version, request)) as Doc,
  };
}

async function closeEcho(echo: Echo | undefined): Promise<void> {
  if (!echo) return;
  echo.clients.v2.close();
  echo.clients.v3.close();
  await echo.agent.stop();
}

const post = (body: string, headers: Record<string, string>, path = '/p') => httpRequest({ method: 'POST', path, body, headers });

describe('input document (default settings)', () => {
  let echo: Echo;
  beforeAll(async () => {
    echo = await echoAgent([]);
  });
  afterAll(() => closeEcho(echo));

  it('v3 attributes use protojson lowerCamel names, Timestamps as seconds/nanos, Structs as JSON', async () => {
    const input = await echo.input({
      attributes: {
        source: { address: { socket_address: { address: '10.0.0.1', port_value: 51234 } }, principal: 'spiffe://a' },
        request: { time: { seconds: '1700000000', nanos: 5 }, http: { method: 'GET', path: '/', raw_body: Buffer.from('x'), size: '42' } },
        context_extensions: { virtual_host: 'vh' },
        metadata_context: { filter_metadata: { 'envoy.lb': jsonToStruct({ canary: true }) } },
        tls_session: { sni: 'a.example' },
      },
    });
    expect(input.attributes).toEqual({
      source: { address: { socketAddress: { address: '10.0.0.1', portValue: 51234 } }, principal: 'spiffe://a' },
      request: { time: { seconds: 1700000000, nanos: 5 }, http: { method: 'GET', path: '/', rawBody: 'eA==', size: 42 } },
      contextExtensions: { virtual_host: 'vh' },
      metadataContext: { filterMetadata: { 'envoy.lb': { canary: true } } },
      tlsSession: { sni: 'a.example' },
    });
  });

  it('v2 attributes are Go encoding/json of the v2 structs (snake_case, oneof wrappers)', async () => {
    const input = await echo.input(
      httpRequest({ path: '/' }, { context_extensions: { k: 'v' }, metadata_context: { filter_metadata: { f: jsonToStruct({ a: 1 }) } } }),
      'v2',
    );
    expect(input).toHaveProperty('attributes.source', { address: { Address: { SocketAddress: { PortSpecifier: { PortValue: 51234 }, address: '10.0.0.1' } } } });
    expect(input).toHaveProperty('attributes.context_extensions', { k: 'v' });
    expect(input).toHaveProperty('attributes.metadata_context', { filter_metadata: { f: { a: 1 } } });
  });

  it('version names the API and its encoding', async () => {
    expect((await echo.input(httpRequest({}), 'v3')).version).toEqual({ ext_authz: 'v3', encoding: 'protojson' });
    expect((await echo.input(httpRequest({}), 'v2')).version).toEqual({ ext_authz: 'v2', encoding: 'encoding/json' });
  });

  for (const [path, expected] of [
    ['//admin', ['admin']],
    ['/%2Fadmin/x', ['admin', 'x']],
    ['/a/b?x=1', ['a', 'b']],
    ['/', ['']],
    ['/a//b/', ['a', '', 'b', '']],
  ] as const) {
    it(`parsed_path of ${path} is ${JSON.stringify(expected)} (v3 and v2)`, async () => {
      expect((await echo.input(httpRequest({ path }))).parsed_path).toEqual(expected);
      expect((await echo.input(httpRequest({ path }), 'v2')).parsed_path).toEqual(expected);
    });
  }

  it('parsed_query: every value is an array, repeated keys collect, brackets are part of the name, + is a space', async () => {
    const input = await echo.input(httpRequest({ path: '/s?x=1&x=2&empty=&bare&arr[]=a&arr[]=b&q=a+b%2Bc' }));
    expect(input.parsed_query).toEqual({ x: ['1', '2'], empty: [''], bare: [''], 'arr[]': ['a', 'b'], q: ['a b+c'] });
    expect((await echo.input(httpRequest({ path: '/s' }))).parsed_query).toEqual({});
  });

  it('parsed_body: JSON (content type matched as a substring)', async () => {
    const input = await echo.input(post('{"a":[1,2.5,"x"],"b":{"c":null}}', { 'content-type': 'application/json; charset=utf-8' }));
    expect(input.parsed_body).toEqual({ a: [1, 2.5, 'x'], b: { c: null } });
    expect(input.truncated_body).toBe(false);
  });

  it('parsed_body: application/x-www-form-urlencoded', async () => {
    const input = await echo.input(post('a=1&a=2&b=x+y&c=%C3%A9', { 'content-type': 'application/x-www-form-urlencoded' }));
    expect(input.parsed_body).toEqual({ a: ['1', '2'], b: ['x y'], c: ['é'] });
  });

  it('parsed_body: multipart/form-data (text, JSON and file parts; repeated names collect)', async () => {
    const b = 'BOUND';
    const body = [
      `--${b}`,
      'Content-Disposition: form-data; name="t"',
      '',
      'one',
      `--${b}`,
      'Content-Disposition: form-data; name="j"',
      'Content-Type: application/json',
      '',
      '{"k":[true]}',
      `--${b}`,
      'Content-Disposition: form-data; name="t"; filename="f.txt"',
      '',
      'two',
      `--${b}--`,
      '',
    ].join('\r\n');
    const input = await echo.input(post(body, { 'content-type': `multipart/form-data; boundary=${b}` }));
    expect(input.parsed_body).toEqual({ t: ['one', 'two'], j: [{ k: [true] }] });
  });

  it('parsed_body is null without a content type, or for one that is not parsed', async () => {
    expect((await echo.input(post('{"a":1}', {}))).parsed_body).toBeNull();
    expect((await echo.input(post('{"a":1}', { 'content-type': 'text/plain' }))).parsed_body).toBeNull();
  });

  it('truncated_body by x-envoy-auth-partial-body: true (the cut JSON is not parsed)', async () => {
    const input = await echo.input(post('{"a": [1, 2', { 'content-type': 'application/json', 'x-envoy-auth-partial-body': 'true' }));
    expect(input.truncated_body).toBe(true);
    expect(input.parsed_body).toBeNull();
  });

  it('truncated_body by a content-length larger than the body', async () => {
    const input = await echo.input(post('{"a":1}', { 'content-type': 'application/json', 'content-length': '100' }));
    expect(input.truncated_body).toBe(true);
    expect(input.parsed_body).toBeNull();
    const whole = await echo.input(post('{"a":1}', { 'content-type': 'application/json', 'content-length': '7' }));
    expect(whole).toMatchObject({ truncated_body: false, parsed_body: { a: 1 } });
  });

  it('binary raw_body appears as padded standard base64 and is parsed when its type is JSON', async () => {
    const bin = await echo.input(httpRequest({ method: 'POST', raw_body: Buffer.from([0x00, 0xff, 0xfe, 0x01]) }));
    expect(httpOf(bin).rawBody).toBe('AP/+AQ==');
    const json = await echo.input(httpRequest({ method: 'POST', raw_body: Buffer.from('{"r":1}'), headers: { 'content-type': 'application/json' } }));
    expect(json.parsed_body).toEqual({ r: 1 });
  });

  it('source_principal copies attributes.source.principal, and is absent when that is empty', async () => {
    for (const version of ['v3', 'v2'] as const) {
      const withPrincipal = await echo.input(httpRequest({}, { source: { principal: 'spiffe://cluster.local/ns/a/sa/b' } }), version);
      expect(withPrincipal.source_principal).toBe('spiffe://cluster.local/ns/a/sa/b');
      expect(await echo.input(httpRequest({}), version)).not.toHaveProperty('source_principal');
    }
  });

  for (const version of ['v3', 'v2'] as const) {
    it(`${version}: invalid JSON that is not truncated (bad input {"a": }) is denied 400 with request_parse_error`, async () => {
      const res = await echo.clients[version].check(post('{"a": }', { 'content-type': 'application/json' }));
      expect(res.status?.code).toBe(7);
      expect(res.denied_response?.status?.code).toBe('BadRequest');
      expect(res.denied_response?.body).toMatch(/^request_parse_error: /);
      expect(res.status?.message).toBe(res.denied_response?.body);
    });
  }
});

describe('input document with --request-body-max-size 10', () => {
  let echo: Echo;
  beforeAll(async () => {
    echo = await echoAgent(['--request-body-max-size', '10']);
  });
  afterAll(() => closeEcho(echo));

  for (const version of ['v3', 'v2'] as const) {
    it(`${version}: a longer body is cut to 10 bytes and marked partial in the headers, so it is truncated`, async () => {
      const input = await echo.input(post('{"name":"a long value"}', { 'content-type': 'application/json' }), version);
      expect(httpOf(input).body).toBe('{"name":"a');
      expect(httpOf(input).headers).toHaveProperty(['x-envoy-auth-partial-body'], 'true');
      expect(input.truncated_body).toBe(true);
      expect(input.parsed_body).toBeNull();
    });
  }

  it('a body of at most 10 bytes is left whole, without the partial header', async () => {
    const input = await echo.input(post('{"a":1}', { 'content-type': 'application/json' }));
    expect(httpOf(input).body).toBe('{"a":1}');
    expect(httpOf(input).headers).not.toHaveProperty('x-envoy-auth-partial-body');
    expect(input).toMatchObject({ truncated_body: false, parsed_body: { a: 1 } });
  });

  it('raw bytes are cut to exactly 10 bytes', async () => {
    const raw = Buffer.from([...Array(16).keys()].map((i) => i * 16));
    const input = await echo.input(httpRequest({ method: 'POST', raw_body: raw }));
    expect(httpOf(input).rawBody).toBe(raw.subarray(0, 10).toString('base64'));
    expect(httpOf(input).headers).toHaveProperty(['x-envoy-auth-partial-body'], 'true');
    expect(input.truncated_body).toBe(true);
  });

  it('a text body is cut before a UTF-8 character the limit would split (✓ is 3 bytes)', async () => {
    const input = await echo.input(post('✓✓✓✓', { 'content-type': 'text/plain' }));
    expect(httpOf(input).body).toBe('✓✓✓');
  });
});

describe('input document with --request-body-send-raw', () => {
  let echo: Echo;
  beforeAll(async () => {
    echo = await echoAgent(['--request-body-send-raw']);
  });
  afterAll(() => closeEcho(echo));

  it('binary raw_body bytes (0x00 0xff 0x01 0x80) are kept as they came', async () => {
    const input = await echo.input(httpRequest({ method: 'POST', raw_body: Buffer.from([0x00, 0xff, 0x01, 0x80]) }));
    expect(httpOf(input).rawBody).toBe('AP8BgA==');
    expect(httpOf(input)).not.toHaveProperty('body');
  });

  it('a text body is presented as rawBody bytes instead, and still parsed', async () => {
    const input = await echo.input(post('{"x":"é"}', { 'content-type': 'application/json' }));
    expect(httpOf(input).rawBody).toBe(Buffer.from('{"x":"é"}').toString('base64'));
    expect(httpOf(input)).not.toHaveProperty('body');
    expect(input.parsed_body).toEqual({ x: 'é' });
  });

  it('v2 has no raw body field: the text body stays', async () => {
    const input = await echo.input(post('{"x":1}', { 'content-type': 'application/json' }), 'v2');
    expect(httpOf(input).body).toBe('{"x":1}');
    expect(httpOf(input)).not.toHaveProperty('rawBody');
    expect(input.parsed_body).toEqual({ x: 1 });
  });
});
