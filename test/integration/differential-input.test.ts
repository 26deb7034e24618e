// The input document, differentially: the same CheckRequests go to kmesh-opa and to the Go OPA-Envoy plugin
// (the reference), both running test/policies/echo.rego, and the documents the policy saw must be equal.
// Besides Envoy-shaped requests, some are hand-made bytes (merged messages, unknown fields, odd map
// entries) that only a protobuf decoder's rules decide.
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoedInput, echoOf, jsonToStruct, sideBySide } from '../helpers/differential.js';
import { decodeCheckResponse, encodeCheckRequest, httpRequest } from '../helpers/envoy-client.js';
import { double, int, ld } from '../helpers/protowire.js';
import { POLICIES } from '../helpers/tools.js';

const ECHO = join(POLICIES, 'echo.rego');
const BOUNDARY = 'XyZ-boundary-123';

const multipartBody = [
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="title"',
  '',
  'hello world',
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="meta"',
  'Content-Type: application/json',
  '',
  '{"tags":["a","b"],"n":3}',
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="file"; filename="a.txt"',
  'Content-Type: text/plain',
  '',
  'file contents',
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="title"',
  '',
  'second title',
  `--${BOUNDARY}--`,
  '',
].join('\r\n');

const jsonBody = '{"user":{"name":"ünï","roles":["admin","dev"]},"n":-12.5e2,"big":12345678901234567890,"ok":true,"none":null}';

/** Envoy-shaped requests covering every part of the input document. */
const REQUESTS: Record<string, Record<string, unknown>> = {
  'GET with headers and a query of repeated, empty and bracketed keys': httpRequest({
    path: '/api/v1/items?a=1&a=2&b=&c&arr[]=x&arr[]=y&sp=a+b%20c&%C3%A9=%E2%9C%93',
    headers: { authorization: 'Bearer abc.def.ghi', cookie: 'a=1; b=2', 'x-multi': 'v1,v2' },
  }),
  'path //admin': httpRequest({ path: '//admin' }),
  'path /%2Fadmin/x with an encoded slash': httpRequest({ path: '/%2Fadmin/x' }),
  'path with UTF-8 escapes and a trailing slash': httpRequest({ path: '/caf%C3%A9/%E2%9C%93/?q=1' }),
  'POST JSON body (charset parameter, matching content-length)': httpRequest({
    method: 'POST',
    path: '/json',
    body: jsonBody,
    headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(jsonBody)) },
  }),
  'POST x-www-form-urlencoded body': httpRequest({
    method: 'POST',
    path: '/form',
    body: 'a=1&a=2&b=%20x+y&c&d=',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  }),
  'POST multipart/form-data body with text, JSON and file parts': httpRequest({
    method: 'POST',
    path: '/upload',
    body: multipartBody,
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
  }),
  'raw_body JSON bytes without a text body': httpRequest({
    method: 'POST',
    path: '/raw',
    raw_body: Buffer.from('{"k":[1,2,{"x":"y"}]}'),
    headers: { 'content-type': 'application/json' },
  }),
  'raw_body binary bytes 0x00 0xff of an unparsed type': httpRequest({
    method: 'PUT',
    path: '/bin',
    raw_body: Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0xfe]),
    headers: { 'content-type': 'application/octet-stream' },
  }),
  'truncated by x-envoy-auth-partial-body: true': httpRequest({
    method: 'POST',
    path: '/cut',
    body: '{"a": [1, 2',
    headers: { 'content-type': 'application/json', 'x-envoy-auth-partial-body': 'true' },
  }),
  'truncated by a content-length larger than the body': httpRequest({
    method: 'POST',
    path: '/cut',
    body: 'a=1&b=',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '500' },
  }),
  'JSON body with duplicate keys, unicode escapes and exponent numbers': httpRequest({
    method: 'PATCH',
    path: '/dup',
    body: '{"a":1,"a":2,"s":"\\u00e9\\ud83d\\ude00\\ud800","e":[1e2,1E-2,0.1,-1.5,1.0]}',
    headers: { 'content-type': 'application/json' },
  }),
  'raw_body JSON with invalid UTF-8 inside a string': httpRequest({
    method: 'POST',
    path: '/raw',
    raw_body: Buffer.concat([Buffer.from('{"s":"a'), Buffer.from([0xff, 0xc3]), Buffer.from('b"}')]),
    headers: { 'content-type': 'application/json' },
  }),
  'raw_body multipart with a binary file part': httpRequest({
    method: 'POST',
    path: '/upload',
    raw_body: Buffer.concat([
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="bin"; filename="b"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      Buffer.from([0x00, 0xff, 0x41]),
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]),
    headers: { 'content-type': `multipart/form-data; boundary="${BOUNDARY}"` },
  }),
  'application/grpc body is not parsed': httpRequest({
    method: 'POST',
    path: '/pkg.Service/Method',
    raw_body: Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]),
    headers: { 'content-type': 'application/grpc' },
  }),
  'multipart content type without a boundary parameter': httpRequest({
    method: 'POST',
    path: '/upload',
    body: 'whatever',
    headers: { 'content-type': 'multipart/form-data' },
  }),
  'peers with principal, service, labels and certificate': httpRequest(
    { path: '/peer' },
    {
      source: {
        address: { socket_address: { address: '10.1.2.3', port_value: 40000 } },
        principal: 'spiffe://cluster.local/ns/default/sa/frontend',
        service: 'frontend',
        labels: { app: 'frontend', version: 'v1' },
        certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      },
      destination: {
        address: { socket_address: { address: '10.9.8.7', port_value: 8443, protocol: 'TCP' } },
        principal: 'spiffe://cluster.local/ns/default/sa/backend',
      },
    },
  ),
  'context_extensions and metadata_context': httpRequest(
    { path: '/ctx' },
    {
      context_extensions: { virtual_host: 'vh1', route: 'r-42' },
      metadata_context: {
        filter_metadata: {
          'envoy.filters.http.jwt_authn': jsonToStruct({ payload: { sub: 'alice', exp: 2524608000, scopes: ['read', 'write'], admin: false, extra: null } }),
        },
      },
    },
  ),
  'request time, size, query, fragment, protocol and TLS SNI': {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.1', port_value: 1 } } },
      request: {
        time: { seconds: '1700000000', nanos: 123456789 },
        http: {
          id: '9876543210',
          method: 'OPTIONS',
          path: '/t?z=1',
          host: 'example.com',
          scheme: 'https',
          query: 'z=1',
          fragment: 'frag',
          size: '1048576',
          protocol: 'HTTP/2',
          headers: { ':path': '/t?z=1', ':method': 'OPTIONS' },
        },
      },
      tls_session: { sni: 'example.com' },
      route_metadata_context: { filter_metadata: { 'kuma.io': jsonToStruct({ route: 'r1' }) } },
    },
  },
  'header_map with raw values instead of headers': {
    attributes: {
      request: {
        http: {
          method: 'GET',
          path: '/hm',
          header_map: { headers: [{ key: ':path', raw_value: Buffer.from('/hm') }, { key: 'x-bin', raw_value: Buffer.from([0xc3, 0x28, 0x00]) }] },
        },
      },
    },
  },
  'no attributes at all': {},
};

/** Requests whose input the plugin cannot build: both must give the same 400 answer. */
const BAD_REQUESTS: Record<string, Record<string, unknown>> = {
  'bad input: invalid JSON body {"a": tru}': httpRequest({
    method: 'POST',
    body: '{"a": tru}',
    headers: { 'content-type': 'application/json' },
  }),
  'bad input: JSON body with trailing garbage {"a":1}x': httpRequest({
    method: 'POST',
    body: '{"a":1}x',
    headers: { 'content-type': 'application/json' },
  }),
  'bad input: invalid query escape ?a=%zz': httpRequest({ path: '/q?a=%zz' }),
  'bad input: invalid path escape /a%2': httpRequest({ path: '/a%2' }),
  'bad input: semicolon in a query ?a=1;b=2': httpRequest({ path: '/q?a=1;b=2' }),
  'bad input: content-length "ten" with a JSON body': httpRequest({
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json', 'content-length': 'ten' },
  }),
  'bad input: multipart part with invalid JSON': httpRequest({
    method: 'POST',
    body: [`--${BOUNDARY}`, 'Content-Disposition: form-data; name="j"', 'Content-Type: application/json', '', '{oops', `--${BOUNDARY}--`, ''].join('\r\n'),
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
  }),
};

// Field numbers of envoy.service.auth.v3 (and v2, which shares them) used below.
const attributes = (...p: Buffer[]) => ld(1, ...p);
const request = (...p: Buffer[]) => ld(4, ...p);
const http = (...p: Buffer[]) => ld(2, ...p);
const header = (key: Buffer | string | undefined, value: Buffer | string | undefined) =>
  ld(3, ...(key === undefined ? [] : [ld(1, key)]), ...(value === undefined ? [] : [ld(2, value)]));
const metadata = (field: number, name: string, ...value: Buffer[]) => ld(field, ld(1, ld(1, name), ld(2, ...value)));
const structField = (name: string, ...value: Buffer[]) => ld(1, ld(1, name), ld(2, ...value));

/** CheckRequests as bytes no encoder writes, but a peer may send and protobuf decoders must accept. */
const RAW_REQUESTS: Record<string, Buffer> = {
  'a CheckRequest sent twice merges: map entries add up, the last scalar wins': Buffer.concat([
    encodeCheckRequest(httpRequest({ path: '/first', headers: { 'x-a': '1' } })),
    encodeCheckRequest({ attributes: { request: { http: { path: '/second', headers: { 'x-b': '2' } } }, context_extensions: { k: 'v' } } }),
  ]),
  'unknown fields at every level are ignored': Buffer.concat([
    int(99, 1),
    attributes(int(98, 2), ld(97, 'x'), request(http(ld(4, '/u'), int(50, 7)), double(77, 1.5))),
  ]),
  'header entries without a value, without a key, and a repeated key (the last wins)': attributes(
    request(http(ld(4, '/h'), header('x-no-value', undefined), header(undefined, 'no-key'), header('x-dup', 'first'), header('x-dup', 'second'))),
  ),
  'negative size, negative seconds and out-of-range nanos': attributes(request(ld(1, int(1, -5), int(2, 2_000_000_000)), http(ld(4, '/t'), int(9, -1)))),
  'pipe and internal addresses, a socket address with named port, resolver and ipv4_compat': attributes(
    ld(1, ld(1, ld(2, ld(1, '/var/run/envoy.sock'), int(2, 0o600)))),
    ld(2, ld(1, ld(3, ld(1, 'listener-1'), ld(2, 'ep-7')))),
    ld(1, ld(2, 'svc'), ld(1, ld(1, int(1, 1), ld(2, '::1'), ld(4, 'http'), ld(5, 'dns'), int(6, 1)))),
  ),
  'a oneof set twice keeps the last choice (socket address, then pipe)': attributes(
    ld(1, ld(1, ld(1, ld(2, '10.0.0.1'), int(3, 80)))),
    ld(1, ld(1, ld(2, ld(1, '/last.sock')))),
  ),
  'Struct values: no kind set, nested lists, a bool, a null': attributes(
    metadata(11, 'f', structField('empty'), structField('list', ld(6, ld(1, ld(6, ld(1, ld(3, 'deep')))), ld(1, int(4, 1)))), structField('nothing', int(1, 0))),
  ),
  'Struct number values NaN and -Infinity': attributes(metadata(11, 'f', structField('nan', double(2, NaN)), structField('ninf', double(2, -Infinity)))),
  'typed_filter_metadata with an Any': attributes(ld(11, ld(2, ld(1, 'typed'), ld(2, ld(1, 'type.googleapis.com/google.protobuf.StringValue'), ld(2, ld(1, 'hi')))))),
  'header_map entries with value and raw_value': attributes(request(http(ld(4, '/hm'), ld(13, ld(1, ld(1, 'x-v'), ld(2, 'text')), ld(1, ld(1, 'x-both'), ld(2, 'text'), ld(3, Buffer.from([1, 2]))))))),
};

/** Raw bytes to one server; the echoed input (see echoOf), or the gRPC status code when the call fails. */
function rawEcho(client: grpc.Client, version: 'v2' | 'v3', bytes: Buffer): Promise<unknown> {
  const identity = (b: Buffer) => b;
  return new Promise((resolve, reject) => {
    const options = { deadline: Date.now() + 10_000 };
    client.makeUnaryRequest(`/envoy.service.auth.${version}.Authorization/Check`, identity, identity, bytes, options, (err, body) => {
      try {
        resolve(err || !body ? { grpcCode: err?.code } : echoOf(decodeCheckResponse(body, version), version));
      } catch (e) {
        reject(e);
      }
    });
  });
}

describe('input document: kmesh-opa and the Go plugin echo the same input', () => {
  const { clients, agent, plugin } = sideBySide([ECHO]);

  describe('bytes no encoder writes', () => {
    let ours: grpc.Client;
    let theirs: grpc.Client;
    beforeAll(() => {
      ours = new grpc.Client(agent().address, grpc.credentials.createInsecure());
      theirs = new grpc.Client(plugin().address, grpc.credentials.createInsecure());
    });
    afterAll(() => {
      ours?.close();
      theirs?.close();
    });

    for (const version of ['v3', 'v2'] as const) {
      for (const [name, bytes] of Object.entries(RAW_REQUESTS)) {
        it(`${version}: ${name}`, async () => {
          const [mine, go] = await Promise.all([rawEcho(ours, version, bytes), rawEcho(theirs, version, bytes)]);
          expect(mine).toEqual(go);
        });
      }
    }
  });

  for (const version of ['v3', 'v2'] as const) {
    describe(version, () => {
      for (const [name, request] of Object.entries(REQUESTS)) {
        it(name, async () => {
          const [ours, theirs] = await Promise.all([
            echoedInput(clients[`ours-${version}`]!, version, request),
            echoedInput(clients[`go-${version}`]!, version, request),
          ]);
          // The echo itself must have worked on the reference, or the comparison proves nothing.
          expect(theirs).not.toHaveProperty('answer');
          expect(ours).toEqual(theirs);
        });
      }
      for (const [name, request] of Object.entries(BAD_REQUESTS)) {
        it(`${name} gives the same 400 request_parse_error answer`, async () => {
          const [ours, theirs] = await Promise.all([
            echoedInput(clients[`ours-${version}`]!, version, request),
            echoedInput(clients[`go-${version}`]!, version, request),
          ]);
          expect(theirs).toHaveProperty('answer.denied_response.status.code', 'BadRequest');
          expect(ours).toEqual(theirs);
        });
      }
    });
  }
});
