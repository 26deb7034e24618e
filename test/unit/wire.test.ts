// Decoding CheckRequest bytes (src/authz/wire.ts) against what the reference Go plugin
// (opa-envoy-plugin v1.19.1) builds. Every expected document below was observed by sending the
// same bytes to the Go plugin (console decision logs, `input` minus the parsed_*, version,
// truncated_body and source_principal keys the plugin adds afterwards). Bytes values are shown in
// base64 there; the decoder keeps raw_body as bytes, so the tests turn Uint8Array into base64.
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { officialV3Type } from '../helpers/envoy-client.js';
import { RequestParseError, WireError, decodeCheckRequest } from '../../src/authz/wire.js';
import type { ApiVersion } from '../../src/authz/types.js';

/** JSON-like copy with bytes as base64, as the plugin's input shows them. */
function shown(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(shown);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shown(v)]));
  }
  return value;
}

// A tiny protobuf writer for hand-made (and deliberately malformed) messages.
function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const cat = (...parts: number[][]): number[] => parts.flat();
const tag = (field: number, wireType: number): number[] => varint(field * 8 + wireType);
const len = (field: number, bytes: number[]): number[] => [...tag(field, 2), ...varint(bytes.length), ...bytes];
const str = (field: number, s: string): number[] => len(field, [...Buffer.from(s, 'utf8')]);
const vi = (field: number, n: number | bigint): number[] => [...tag(field, 0), ...varint(n)];
const f64 = (field: number, x: number): number[] => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return [...tag(field, 1), ...b];
};
const f32 = (field: number, x: number): number[] => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(x);
  return [...tag(field, 5), ...b];
};
// CheckRequest.attributes, AttributeContext.request, Request.http, map entries.
const attrs = (...inner: number[][]): number[] => len(1, cat(...inner));
const request = (...inner: number[][]): number[] => len(4, cat(...inner));
const http = (...inner: number[][]): number[] => len(2, cat(...inner));
const entry = (field: number, key?: string, value?: string): number[] =>
  len(field, cat(key === undefined ? [] : str(1, key), value === undefined ? [] : str(2, value)));
// AttributeContext.source, Peer.address, Address.socket_address.
const src = (...inner: number[][]): number[] => len(1, cat(...inner));
const addr = (...inner: number[][]): number[] => len(1, cat(...inner));
const sock = (...inner: number[][]): number[] => len(1, cat(...inner));
// Metadata (field 11 = metadata_context), a filter_metadata entry, a Struct field entry.
const md = (field: number, ...inner: number[][]): number[] => len(field, cat(...inner));
const fm = (key: string, struct: number[]): number[] => len(1, cat(str(1, key), len(2, struct)));
const sfield = (key: string, value: number[]): number[] => len(1, cat(str(1, key), len(2, value)));

/** doc: the input document; wireError: refused as malformed (with Go's wording when given); parseError: v2 request_parse_error. */
type Expect = { doc: Record<string, unknown> } | { wireError: string | null } | { parseError: string };

function check(bytes: number[] | Uint8Array, version: ApiVersion, expected: Expect): void {
  const input = Uint8Array.from(bytes);
  if ('doc' in expected) {
    expect(shown(decodeCheckRequest(input, version).doc)).toStrictEqual(expected.doc);
  } else if ('wireError' in expected) {
    expect(() => decodeCheckRequest(input, version)).toThrow(WireError);
    if (expected.wireError !== null) expect(() => decodeCheckRequest(input, version)).toThrow(expected.wireError);
  } else {
    expect(() => decodeCheckRequest(input, version)).toThrow(RequestParseError);
    expect(() => decodeCheckRequest(input, version)).toThrow(expected.parseError);
  }
}

/** A full CheckRequest as Envoy sends it, encoded with Envoy's official protos. */
const FULL_REQUEST = {
  attributes: {
    source: {
      address: { socketAddress: { address: '10.0.0.1', portValue: 51234, protocol: 0 } },
      service: 'src-svc',
      labels: { app: 'web', version: 'v1' },
      principal: 'spiffe://cluster.local/ns/default/sa/web',
      certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    },
    destination: {
      address: {
        socketAddress: { address: '10.0.0.2', portValue: 8080, protocol: 1, resolverName: 'r', ipv4Compat: true },
      },
      principal: 'spiffe://cluster.local/ns/default/sa/api',
    },
    request: {
      time: { seconds: 1700000000, nanos: 123456789 },
      http: {
        id: '1234567890',
        method: 'POST',
        headers: {
          ':authority': 'api.example.com',
          ':method': 'POST',
          ':path': '/v1/items?a=1&b=x%20y',
          'content-type': 'application/json',
          'content-length': '13',
          'x-forwarded-proto': 'https',
        },
        path: '/v1/items?a=1&b=x%20y',
        host: 'api.example.com',
        scheme: 'https',
        // Set explicitly: protobufjs then writes the empty strings, which must stay absent.
        query: '',
        fragment: '',
        size: 13,
        protocol: 'HTTP/1.1',
        body: '{"name":"x"}\n',
        rawBody: Buffer.from('{"name":"x"}\n'),
        headerMap: { headers: [{ key: 'x-a', value: '1' }, { key: 'x-b', rawValue: Buffer.from('ab') }] },
      },
    },
    contextExtensions: { virtual_host: 'vh1', 'kuma.io/service': 'backend' },
    metadataContext: {
      filterMetadata: {
        'envoy.filters.http.jwt_authn': {
          fields: {
            payload: {
              structValue: {
                fields: {
                  sub: { stringValue: 'alice' },
                  iat: { numberValue: 1700000000 },
                  admin: { boolValue: true },
                  groups: {
                    listValue: {
                      values: [{ stringValue: 'a' }, { numberValue: 2.5 }, { nullValue: 0 }, { structValue: { fields: {} } }],
                    },
                  },
                  nothing: { nullValue: 0 },
                },
              },
            },
          },
        },
      },
      typedFilterMetadata: {
        // protobufjs's bundled Any keeps the proto field name type_url.
        'x.typed': { type_url: 'type.googleapis.com/google.protobuf.StringValue', value: Buffer.from([0x0a, 0x01, 0x7a]) },
      },
    },
    routeMetadataContext: { filterMetadata: { 'kuma.io': { fields: { route: { stringValue: 'r1' } } } } },
    tlsSession: { sni: 'api.example.com' },
  },
};

// The Go plugin's input for FULL_REQUEST on envoy.service.auth.v3.Authorization/Check.
const FULL_V3 = {
  "attributes": {
    "contextExtensions": {
      "kuma.io/service": "backend",
      "virtual_host": "vh1"
    },
    "destination": {
      "address": {
        "socketAddress": {
          "address": "10.0.0.2",
          "ipv4Compat": true,
          "portValue": 8080,
          "protocol": 1,
          "resolverName": "r"
        }
      },
      "principal": "spiffe://cluster.local/ns/default/sa/api"
    },
    "metadataContext": {
      "filterMetadata": {
        "envoy.filters.http.jwt_authn": {
          "payload": {
            "admin": true,
            "groups": [
              "a",
              2.5,
              null,
              {}
            ],
            "iat": 1700000000,
            "nothing": null,
            "sub": "alice"
          }
        }
      },
      "typedFilterMetadata": {
        "x.typed": {
          "typeUrl": "type.googleapis.com/google.protobuf.StringValue",
          "value": "CgF6"
        }
      }
    },
    "request": {
      "http": {
        "body": "{\"name\":\"x\"}\n",
        "headerMap": {
          "headers": [
            {
              "key": "x-a",
              "value": "1"
            },
            {
              "key": "x-b",
              "rawValue": "YWI="
            }
          ]
        },
        "headers": {
          ":authority": "api.example.com",
          ":method": "POST",
          ":path": "/v1/items?a=1&b=x%20y",
          "content-length": "13",
          "content-type": "application/json",
          "x-forwarded-proto": "https"
        },
        "host": "api.example.com",
        "id": "1234567890",
        "method": "POST",
        "path": "/v1/items?a=1&b=x%20y",
        "protocol": "HTTP/1.1",
        "rawBody": "eyJuYW1lIjoieCJ9Cg==",
        "scheme": "https",
        "size": 13
      },
      "time": {
        "nanos": 123456789,
        "seconds": 1700000000
      }
    },
    "routeMetadataContext": {
      "filterMetadata": {
        "kuma.io": {
          "route": "r1"
        }
      }
    },
    "source": {
      "address": {
        "socketAddress": {
          "address": "10.0.0.1",
          "portValue": 51234
        }
      },
      "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      "labels": {
        "app": "web",
        "version": "v1"
      },
      "principal": "spiffe://cluster.local/ns/default/sa/web",
      "service": "src-svc"
    },
    "tlsSession": {
      "sni": "api.example.com"
    }
  }
};

// The Go plugin's input for the same bytes on envoy.service.auth.v2.Authorization/Check: v3-only
// fields (raw_body, header_map, typed_filter_metadata, route_metadata_context, tls_session) are
// unknown to v2 and dropped; snake_case names; oneofs as Go interface fields.
const FULL_V2 = {
  "attributes": {
    "context_extensions": {
      "kuma.io/service": "backend",
      "virtual_host": "vh1"
    },
    "destination": {
      "address": {
        "Address": {
          "SocketAddress": {
            "PortSpecifier": {
              "PortValue": 8080
            },
            "address": "10.0.0.2",
            "ipv4_compat": true,
            "protocol": 1,
            "resolver_name": "r"
          }
        }
      },
      "principal": "spiffe://cluster.local/ns/default/sa/api"
    },
    "metadata_context": {
      "filter_metadata": {
        "envoy.filters.http.jwt_authn": {
          "payload": {
            "admin": true,
            "groups": [
              "a",
              2.5,
              null,
              {}
            ],
            "iat": 1700000000,
            "nothing": null,
            "sub": "alice"
          }
        }
      }
    },
    "request": {
      "http": {
        "body": "{\"name\":\"x\"}\n",
        "headers": {
          ":authority": "api.example.com",
          ":method": "POST",
          ":path": "/v1/items?a=1&b=x%20y",
          "content-length": "13",
          "content-type": "application/json",
          "x-forwarded-proto": "https"
        },
        "host": "api.example.com",
        "id": "1234567890",
        "method": "POST",
        "path": "/v1/items?a=1&b=x%20y",
        "protocol": "HTTP/1.1",
        "scheme": "https",
        "size": 13
      },
      "time": {
        "nanos": 123456789,
        "seconds": 1700000000
      }
    },
    "source": {
      "address": {
        "Address": {
          "SocketAddress": {
            "PortSpecifier": {
              "PortValue": 51234
            },
            "address": "10.0.0.1"
          }
        }
      },
      "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      "labels": {
        "app": "web",
        "version": "v1"
      },
      "principal": "spiffe://cluster.local/ns/default/sa/web",
      "service": "src-svc"
    }
  }
};

describe('decodeCheckRequest on a full Envoy request', () => {
  const bytes = officialV3Type('envoy.service.auth.v3.CheckRequest').encode(officialV3Type('envoy.service.auth.v3.CheckRequest').fromObject(FULL_REQUEST)).finish();

  it('v3 gives the Go plugin\'s protomap document', () => {
    check(bytes, 'v3', { doc: FULL_V3 });
  });

  it('v3 exposes http, raw body bytes and the source principal', () => {
    const decoded = decodeCheckRequest(bytes, 'v3');
    const httpObject = ((decoded.doc['attributes'] as Record<string, unknown>)['request'] as Record<string, unknown>)['http'];
    expect(decoded.http.object).toBe(httpObject);
    expect(decoded.http.headers).toBe((httpObject as Record<string, unknown>)['headers']);
    expect(decoded.http.path).toBe('/v1/items?a=1&b=x%20y');
    expect(decoded.http.body).toBe('{"name":"x"}\n');
    expect(decoded.http.rawBody).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(decoded.http.rawBody!).toString()).toBe('{"name":"x"}\n');
    expect(decoded.sourcePrincipal).toBe('spiffe://cluster.local/ns/default/sa/web');
  });

  it('v2 gives Go\'s encoding/json document of the v2 structs', () => {
    check(bytes, 'v2', { doc: FULL_V2 });
  });

  it('v2 exposes http without raw body (the plugin ignores raw bytes on v2)', () => {
    const decoded = decodeCheckRequest(bytes, 'v2');
    expect(decoded.http.headers['content-type']).toBe('application/json');
    expect(decoded.http.path).toBe('/v1/items?a=1&b=x%20y');
    expect(decoded.http.rawBody).toBeUndefined();
    expect(decoded.sourcePrincipal).toBe('spiffe://cluster.local/ns/default/sa/web');
  });
});

describe('decodeCheckRequest on an empty CheckRequest', () => {
  const officialEmpty = officialV3Type('envoy.service.auth.v3.CheckRequest').encode(officialV3Type('envoy.service.auth.v3.CheckRequest').create({})).finish();

  it('is 0 bytes when Envoy\'s protos encode it, and decodes to {} with a detached empty http view', () => {
    expect(officialEmpty.length).toBe(0);
    for (const version of ['v3', 'v2'] as const) {
      const decoded = decodeCheckRequest(officialEmpty, version);
      expect(decoded.doc).toStrictEqual({});
      expect(decoded.http).toStrictEqual({ object: {}, path: '', body: '', rawBody: undefined, headers: {} });
      expect(decoded.sourcePrincipal).toBe('');
      // The plugin adds no http object to the input when Envoy sent none.
      decoded.http.object['x'] = 1;
      expect(decoded.doc).toStrictEqual({});
    }
  });
});

/**
 * Hand-made messages (merging, oneofs, zero values, unknown and mistyped fields, malformed input)
 * with the Go plugin's answer to each: the input document, a gRPC INTERNAL "error unmarshalling
 * request" (wireError), or a request_parse_error denial (parseError, v2 only).
 */
const CASES: { name: string; bytes: () => number[]; v3?: Expect; v2: Expect }[] = [
  { name: "empty", bytes: () => [], v3: { doc: {} }, v2: { doc: {} } },
  { name: "emptyAttrs", bytes: () => attrs(), v3: { doc: {"attributes":{}} }, v2: { doc: {"attributes":{}} } },
  { name: "emptyHttp", bytes: () => attrs(request(http())), v3: { doc: {"attributes":{"request":{"http":{}}}} }, v2: { doc: {"attributes":{"request":{"http":{}}}} } },
  { name: "emptyAddress", bytes: () => attrs(src(addr())), v3: { doc: {"attributes":{"source":{"address":{}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":null}}}} } },
  { name: "emptySocket", bytes: () => attrs(src(addr(sock()))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":null}}}}}} } },
  { name: "portZero", bytes: () => attrs(src(addr(sock(vi(3, 0))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"portValue":0}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":{"PortValue":0}}}}}}} } },
  { name: "namedPort", bytes: () => attrs(src(addr(sock(str(4, 'http'), str(7, '/ns'))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"namedPort":"http","networkNamespaceFilepath":"/ns"}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":{"NamedPort":"http"}}}}}}} } },
  { name: "oneofSwitch", bytes: () => attrs(src(addr(sock(vi(3, 80), str(4, 'http'))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"namedPort":"http"}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":{"NamedPort":"http"}}}}}}} } },
  { name: "oneofSwitchBack", bytes: () => attrs(src(addr(sock(str(4, 'http'), vi(3, 81))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"portValue":81}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":{"PortValue":81}}}}}}} } },
  { name: "pipe", bytes: () => attrs(src(addr(len(2, cat(str(1, '/tmp/s'), vi(2, 0o644)))))), v3: { doc: {"attributes":{"source":{"address":{"pipe":{"mode":420,"path":"/tmp/s"}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"Pipe":{"mode":420,"path":"/tmp/s"}}}}}} } },
  { name: "pipeEmpty", bytes: () => attrs(src(addr(len(2, [])))), v3: { doc: {"attributes":{"source":{"address":{"pipe":{}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"Pipe":{}}}}}} } },
  { name: "internal", bytes: () => attrs(src(addr(len(3, cat(str(1, 'lis'), str(2, 'ep')))))), v3: { doc: {"attributes":{"source":{"address":{"envoyInternalAddress":{"endpointId":"ep","serverListenerName":"lis"}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":null}}}} } },
  { name: "internalEmptyName", bytes: () => attrs(src(addr(len(3, str(1, ''))))), v3: { doc: {"attributes":{"source":{"address":{"envoyInternalAddress":{"serverListenerName":""}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":null}}}} } },
  { name: "addrSwitchMerge", bytes: () => attrs(src(addr(sock(str(2, 'a'))), addr(sock(vi(3, 5))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"address":"a","portValue":5}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":{"PortValue":5},"address":"a"}}}}}} } },
  { name: "sockThenPipe", bytes: () => attrs(src(addr(sock(str(2, 'a')), len(2, str(1, 'p'))))), v3: { doc: {"attributes":{"source":{"address":{"pipe":{"path":"p"}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"Pipe":{"path":"p"}}}}}} } },
  { name: "lastScalarWins", bytes: () => attrs(src(str(2, 'one'), str(2, 'two'), str(4, 'p'), str(4, ''))), v3: { doc: {"attributes":{"source":{"service":"two"}}} }, v2: { doc: {"attributes":{"source":{"service":"two"}}} } },
  { name: "mergeHttp", bytes: () => attrs(request(http(str(2, 'GET'))), request(http(str(4, '/x')))), v3: { doc: {"attributes":{"request":{"http":{"method":"GET","path":"/x"}}}} }, v2: { doc: {"attributes":{"request":{"http":{"method":"GET","path":"/x"}}}} } },
  { name: "mapDupKey", bytes: () => attrs(request(http(entry(3, 'a', '1'), entry(3, 'a', '2')))), v3: { doc: {"attributes":{"request":{"http":{"headers":{"a":"2"}}}}} }, v2: { doc: {"attributes":{"request":{"http":{"headers":{"a":"2"}}}}} } },
  { name: "mapMissingKey", bytes: () => attrs(request(http(entry(3, undefined, 'v')))), v3: { doc: {"attributes":{"request":{"http":{"headers":{"":"v"}}}}} }, v2: { doc: {"attributes":{"request":{"http":{"headers":{"":"v"}}}}} } },
  { name: "mapMissingValue", bytes: () => attrs(request(http(entry(3, 'k', undefined)))), v3: { doc: {"attributes":{"request":{"http":{"headers":{"k":""}}}}} }, v2: { doc: {"attributes":{"request":{"http":{"headers":{"k":""}}}}} } },
  { name: "mapEntryUnknownField", bytes: () => attrs(request(http(len(3, cat(str(1, 'k'), vi(9, 1), str(2, 'v')))))), v3: { doc: {"attributes":{"request":{"http":{"headers":{"k":"v"}}}}} }, v2: { doc: {"attributes":{"request":{"http":{"headers":{"k":"v"}}}}} } },
  { name: "mapValueFirst", bytes: () => attrs(request(http(len(3, cat(str(2, 'v'), str(1, 'k')))))), v3: { doc: {"attributes":{"request":{"http":{"headers":{"k":"v"}}}}} }, v2: { doc: {"attributes":{"request":{"http":{"headers":{"k":"v"}}}}} } },
  { name: "emptyStructEntry", bytes: () => attrs(md(11, len(1, str(1, 'f')))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{}}}}} } },
  { name: "valueNoKind", bytes: () => attrs(md(11, fm('f', sfield('x', [])))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"x":null}}}}} }, v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value: none of the oneof fields is set" } },
  // Go prints number_value -0 as -0.
  { name: "valueNullAndNaN", bytes: () => attrs(md(11, fm('f', cat(sfield('n', vi(1, 0)), sfield('big', f64(2, 1e21)), sfield('small', f64(2, 1e-7)), sfield('neg0', f64(2, -0)), sfield('int', f64(2, 3)))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"big":1e+21,"int":3,"n":null,"neg0":-0,"small":1e-7}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"big":1e+21,"int":3,"n":null,"neg0":-0,"small":1e-7}}}}} } },
  // valueNaN on v3: see the non-finite number test.
  { name: "valueNaN", bytes: () => attrs(md(11, fm('f', sfield('nan', f64(2, NaN))))), v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value.number_value: invalid NaN value" } },
  { name: "listEmpty", bytes: () => attrs(md(11, fm('f', sfield('l', len(6, []))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"l":[]}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"l":[]}}}}} } },
  { name: "structEmptyVal", bytes: () => attrs(md(11, fm('f', sfield('s', len(5, []))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"s":{}}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"s":{}}}}}} } },
  { name: "structMerge", bytes: () => attrs(md(11, fm('f', sfield('a', str(3, 'x'))), fm('f', sfield('b', str(3, 'y'))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"b":"y"}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"b":"y"}}}}} } },
  { name: "valueKindSwitch", bytes: () => attrs(md(11, fm('f', sfield('a', cat(str(3, 'x'), vi(4, 1)))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"a":true}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"a":true}}}}} } },
  { name: "nullValueNonZero", bytes: () => attrs(md(11, fm('f', sfield('a', vi(1, 5))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"a":null}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"a":null}}}}} } },
  { name: "timestampZero", bytes: () => attrs(request(len(1, cat(vi(1, 0), vi(2, 0))))), v3: { doc: {"attributes":{"request":{"time":{}}}} }, v2: { doc: {"attributes":{"request":{"time":{}}}} } },
  { name: "timestampEmpty", bytes: () => attrs(request(len(1, []))), v3: { doc: {"attributes":{"request":{"time":{}}}} }, v2: { doc: {"attributes":{"request":{"time":{}}}} } },
  { name: "timestampNeg", bytes: () => attrs(request(len(1, cat(vi(1, -5), vi(2, 7))))), v3: { doc: {"attributes":{"request":{"time":{"nanos":7,"seconds":-5}}}} }, v2: { doc: {"attributes":{"request":{"time":{"nanos":7,"seconds":-5}}}} } },
  // Go shows 9007199254740993 (2^53 + 1); int64 values become JS numbers, which round it.
  { name: "int64Big", bytes: () => attrs(request(http(vi(9, 2n ** 53n + 1n)))), v3: { doc: {"attributes":{"request":{"http":{"size":9007199254740992}}}} }, v2: { doc: {"attributes":{"request":{"http":{"size":9007199254740992}}}} } },
  { name: "int64Neg", bytes: () => attrs(request(http(vi(9, -1)))), v3: { doc: {"attributes":{"request":{"http":{"size":-1}}}} }, v2: { doc: {"attributes":{"request":{"http":{"size":-1}}}} } },
  { name: "uint32Overflow", bytes: () => attrs(src(addr(sock(vi(3, 2 ** 32 + 7))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"portValue":7}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":{"PortValue":7}}}}}}} } },
  { name: "int32Overflow", bytes: () => attrs(request(len(1, vi(2, 2 ** 32 + 9)))), v3: { doc: {"attributes":{"request":{"time":{"nanos":9}}}} }, v2: { doc: {"attributes":{"request":{"time":{"nanos":9}}}} } },
  { name: "boolTwo", bytes: () => attrs(src(addr(sock(vi(6, 2))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"ipv4Compat":true}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":null,"ipv4_compat":true}}}}}} } },
  { name: "enumUnknown", bytes: () => attrs(src(addr(sock(vi(1, 7))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"protocol":7}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":null,"protocol":7}}}}}} } },
  { name: "enumNegative", bytes: () => attrs(src(addr(sock(vi(1, -1))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"protocol":-1}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":null,"protocol":-1}}}}}} } },
  { name: "nonCanonicalVarint", bytes: () => attrs(src(addr(sock([...tag(3, 0), 0x85, 0x80, 0x80, 0x00])))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"portValue":5}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":{"PortValue":5}}}}}}} } },
  { name: "typedMdNoValue", bytes: () => attrs(md(11, len(2, str(1, 'k')))), v3: { doc: {"attributes":{"metadataContext":{"typedFilterMetadata":{"k":{}}}}} }, v2: { doc: {"attributes":{"metadata_context":{}}} } },
  { name: "anyEmptyFields", bytes: () => attrs(md(11, len(2, cat(str(1, 'k'), len(2, cat(str(1, ''), len(2, []))))))), v3: { doc: {"attributes":{"metadataContext":{"typedFilterMetadata":{"k":{}}}}} }, v2: { doc: {"attributes":{"metadata_context":{}}} } },
  { name: "headerMapEmptyHeader", bytes: () => attrs(request(http(len(13, len(1, []))))), v3: { doc: {"attributes":{"request":{"http":{"headerMap":{"headers":[{}]}}}}} }, v2: { doc: {"attributes":{"request":{"http":{}}}} } },
  { name: "rawBodyEmpty", bytes: () => attrs(request(http(len(12, [])))), v3: { doc: {"attributes":{"request":{"http":{}}}} }, v2: { doc: {"attributes":{"request":{"http":{}}}} } },
  { name: "rawBodyBinary", bytes: () => attrs(request(http(len(12, [0xff, 0x00, 0xfe])))), v3: { doc: {"attributes":{"request":{"http":{"rawBody":"/wD+"}}}} }, v2: { doc: {"attributes":{"request":{"http":{}}}} } },
  { name: "tlsEmpty", bytes: () => attrs(len(12, [])), v3: { doc: {"attributes":{"tlsSession":{}}} }, v2: { doc: {"attributes":{}} } },
  { name: "unknownTopVarint", bytes: () => cat(vi(99, 5), attrs(src(str(2, 's')))), v3: { doc: {"attributes":{"source":{"service":"s"}}} }, v2: { doc: {"attributes":{"source":{"service":"s"}}} } },
  { name: "unknownFixed", bytes: () => attrs(f64(50, 1.5), f32(51, 3), src(str(2, 's'))), v3: { doc: {"attributes":{"source":{"service":"s"}}} }, v2: { doc: {"attributes":{"source":{"service":"s"}}} } },
  { name: "unknownGroup", bytes: () => attrs([...tag(50, 3), ...vi(1, 1), ...tag(50, 4)], src(str(2, 's'))), v3: { doc: {"attributes":{"source":{"service":"s"}}} }, v2: { doc: {"attributes":{"source":{"service":"s"}}} } },
  { name: "unknownGroupNested", bytes: () => attrs([...tag(50, 3), ...tag(2, 3), ...tag(2, 4), ...tag(50, 4)], src(str(2, 's'))), v3: { doc: {"attributes":{"source":{"service":"s"}}} }, v2: { doc: {"attributes":{"source":{"service":"s"}}} } },
  { name: "groupMismatchedEnd", bytes: () => attrs([...tag(50, 3), ...tag(51, 4)]), v3: { wireError: null }, v2: { wireError: null } },
  { name: "groupUnterminated", bytes: () => attrs([...tag(50, 3), ...vi(1, 1)]), v3: { wireError: null }, v2: { wireError: null } },
  { name: "endGroupAlone", bytes: () => attrs([...tag(50, 4)]), v3: { wireError: null }, v2: { wireError: null } },
  { name: "knownFieldAsGroup", bytes: () => attrs([...tag(1, 3), ...tag(1, 4)]), v3: { doc: {"attributes":{}} }, v2: { doc: {"attributes":{}} } },
  { name: "wrongWireTypeString", bytes: () => attrs(src(vi(2, 5), str(4, 'p'))), v3: { doc: {"attributes":{"source":{"principal":"p"}}} }, v2: { doc: {"attributes":{"source":{"principal":"p"}}} } },
  { name: "wrongWireTypeMessage", bytes: () => attrs(vi(1, 5), src(str(2, 's'))), v3: { doc: {"attributes":{"source":{"service":"s"}}} }, v2: { doc: {"attributes":{"source":{"service":"s"}}} } },
  { name: "wrongWireTypeVarint", bytes: () => attrs(src(addr(sock(str(3, 'x'), str(2, 'a'))))), v3: { doc: {"attributes":{"source":{"address":{"socketAddress":{"address":"a"}}}}} }, v2: { doc: {"attributes":{"source":{"address":{"Address":{"SocketAddress":{"PortSpecifier":null,"address":"a"}}}}}} } },
  { name: "wrongWireTypeTop", bytes: () => vi(1, 3), v3: { doc: {} }, v2: { doc: {} } },
  { name: "wrongWireFixedForVarint", bytes: () => attrs(request(http(f64(9, 1)))), v3: { doc: {"attributes":{"request":{"http":{}}}} }, v2: { doc: {"attributes":{"request":{"http":{}}}} } },
  { name: "tagZero", bytes: () => [0x00, 0x00], v3: { wireError: null }, v2: { wireError: null } },
  { name: "tagZeroNested", bytes: () => attrs([0x02, 0x00]), v3: { wireError: null }, v2: { wireError: null } },
  { name: "tagZeroLen", bytes: () => [0x02, 0x00], v3: { wireError: null }, v2: { wireError: null } },
  { name: "fieldNumberMax", bytes: () => cat(vi(2 ** 29 - 1, 1), attrs()), v3: { doc: {"attributes":{}} }, v2: { doc: {"attributes":{}} } },
  { name: "fieldNumberTooBig", bytes: () => cat([...varint((2 ** 29) * 8)], [0x01]), v3: { wireError: null }, v2: { wireError: null } },
  { name: "wireType6", bytes: () => [0x0e, 0x00], v3: { wireError: null }, v2: { wireError: null } },
  { name: "wireType7", bytes: () => [0x0f], v3: { wireError: null }, v2: { wireError: null } },
  { name: "truncatedVarint", bytes: () => [0x08, 0x80], v3: { wireError: null }, v2: { wireError: null } },
  { name: "truncatedTag", bytes: () => [0x80], v3: { wireError: null }, v2: { wireError: null } },
  { name: "lengthPastEnd", bytes: () => [0x0a, 0x05, 0x01], v3: { wireError: null }, v2: { wireError: null } },
  { name: "nestedLengthPastParent", bytes: () => attrs([0x0a, 0x10, 0x00]), v3: { wireError: null }, v2: { wireError: null } },
  { name: "varintOverflow11", bytes: () => [0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], v3: { wireError: null }, v2: { wireError: null } },
  { name: "varint10thByte2", bytes: () => attrs(request(http([0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]))), v3: { wireError: null }, v2: { wireError: null } },
  { name: "varint10thByte1", bytes: () => attrs(request(http([0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))), v3: { doc: {"attributes":{"request":{"http":{"size":-1}}}} }, v2: { doc: {"attributes":{"request":{"http":{"size":-1}}}} } },
  { name: "lengthVarintHuge", bytes: () => [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], v3: { wireError: null }, v2: { wireError: null } },
  { name: "truncatedFixed64", bytes: () => attrs([...tag(50, 1), 1, 2, 3]), v3: { wireError: null }, v2: { wireError: null } },
  { name: "badUtf8String", bytes: () => attrs(src(len(2, [0xff, 0xfe]))), v3: { wireError: 'string field contains invalid UTF-8' }, v2: { wireError: 'string field contains invalid UTF-8' } },
  { name: "badUtf8MapKey", bytes: () => attrs(request(http(len(3, cat(len(1, [0xc3]), str(2, 'v')))))), v3: { wireError: 'string field contains invalid UTF-8' }, v2: { wireError: 'string field contains invalid UTF-8' } },
  { name: "badUtf8MapValue", bytes: () => attrs(request(http(len(3, cat(str(1, 'k'), len(2, [0xe2, 0x82])))))), v3: { wireError: 'string field contains invalid UTF-8' }, v2: { wireError: 'string field contains invalid UTF-8' } },
  { name: "badUtf8Unknown", bytes: () => attrs(len(50, [0xff]), src(str(2, 's'))), v3: { doc: {"attributes":{"source":{"service":"s"}}} }, v2: { doc: {"attributes":{"source":{"service":"s"}}} } },
  { name: "badUtf8Surrogate", bytes: () => attrs(src(len(2, [0xed, 0xa0, 0x80]))), v3: { wireError: 'string field contains invalid UTF-8' }, v2: { wireError: 'string field contains invalid UTF-8' } },
  { name: "badUtf8Overlong", bytes: () => attrs(src(len(2, [0xc0, 0x80]))), v3: { wireError: 'string field contains invalid UTF-8' }, v2: { wireError: 'string field contains invalid UTF-8' } },
  { name: "badUtf8InStruct", bytes: () => attrs(md(11, fm('f', sfield('a', len(3, [0xff]))))), v3: { wireError: 'string field contains invalid UTF-8' }, v2: { wireError: 'string field contains invalid UTF-8' } },
  { name: "badUtf8StructKey", bytes: () => attrs(md(11, fm('f', len(1, cat(len(1, [0xff]), len(2, str(3, 'x'))))))), v3: { wireError: 'string field contains invalid UTF-8' }, v2: { wireError: 'string field contains invalid UTF-8' } },
  { name: "badUtf8V3Only", bytes: () => attrs(len(12, len(1, [0xff])), src(str(2, 's'))), v3: { wireError: 'string field contains invalid UTF-8' }, v2: { doc: {"attributes":{"source":{"service":"s"}}} } },
  { name: "bytesNotUtf8Ok", bytes: () => attrs(request(http(len(12, [0xff])))), v3: { doc: {"attributes":{"request":{"http":{"rawBody":"/w=="}}}} }, v2: { doc: {"attributes":{"request":{"http":{}}}} } },
  { name: "goodUtf8", bytes: () => attrs(src(str(2, 'héllo €𝄞'))), v3: { doc: {"attributes":{"source":{"service":"héllo €𝄞"}}} }, v2: { doc: {"attributes":{"source":{"service":"héllo €𝄞"}}} } },
  { name: "nulInString", bytes: () => attrs(src(str(2, 'a\u0000b'))), v3: { doc: {"attributes":{"source":{"service":"a\u0000b"}}} }, v2: { doc: {"attributes":{"source":{"service":"a\u0000b"}}} } },
  // infPos on v3: see the non-finite number test.
  { name: "infPos", bytes: () => attrs(md(11, fm('f', sfield('i', f64(2, Infinity))))), v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value.number_value: invalid +Inf value" } },
  // infNeg on v3: see the non-finite number test.
  { name: "infNeg", bytes: () => attrs(md(11, fm('f', sfield('i', f64(2, -Infinity))))), v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value.number_value: invalid -Inf value" } },
  { name: "noKindInList", bytes: () => attrs(md(11, fm('f', sfield('l', len(6, len(1, [])))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"l":[null]}}}}} }, v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value: none of the oneof fields is set" } },
  { name: "noKindInNestedStruct", bytes: () => attrs(md(11, fm('f', sfield('s', len(5, sfield('y', [])))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"s":{"y":null}}}}}} }, v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value: none of the oneof fields is set" } },
  // nanInList on v3: see the non-finite number test.
  { name: "nanInList", bytes: () => attrs(md(11, fm('f', sfield('l', len(6, len(1, f64(2, NaN))))))), v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value.number_value: invalid NaN value" } },
  { name: "structFieldMissingValue", bytes: () => attrs(md(11, fm('f', len(1, str(1, 'x'))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"x":null}}}}} }, v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value: none of the oneof fields is set" } },
  { name: "listSentTwice", bytes: () => attrs(md(11, fm('f', sfield('l', cat(len(6, len(1, str(3, 'a'))), len(6, len(1, str(3, 'b')))))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"l":["a","b"]}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"l":["a","b"]}}}}} } },
  { name: "structValueSentTwice", bytes: () => attrs(md(11, fm('f', sfield('s', cat(len(5, sfield('a', str(3, 'x'))), len(5, sfield('b', str(3, 'y')))))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"s":{"a":"x","b":"y"}}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"s":{"a":"x","b":"y"}}}}}} } },
  { name: "structDupKey", bytes: () => attrs(md(11, fm('f', cat(sfield('a', str(3, 'x')), sfield('a', vi(4, 1)))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"a":true}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"a":true}}}}} } },
  { name: "largeUint", bytes: () => attrs(request(http(vi(9, 2n ** 63n)))), v3: { doc: {"attributes":{"request":{"http":{"size":-9223372036854776000}}}} }, v2: { doc: {"attributes":{"request":{"http":{"size":-9223372036854776000}}}} } },

  // A refused v2 Value only matters if it survives merging; Go reports the first in sorted key order.
  { name: "nanReplacedInValue", bytes: () => attrs(md(11, fm('f', sfield('a', cat(f64(2, NaN), str(3, 'ok')))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"a":"ok"}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"a":"ok"}}}}} } },
  { name: "noKindReplacedByEntry", bytes: () => attrs(md(11, fm('f', cat(sfield('a', []), sfield('a', str(3, 'ok')))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"a":"ok"}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"a":"ok"}}}}} } },
  { name: "noKindStructReplaced", bytes: () => attrs(md(11, fm('f', sfield('a', [])), fm('f', sfield('a', vi(4, 1))))), v3: { doc: {"attributes":{"metadataContext":{"filterMetadata":{"f":{"a":true}}}}} }, v2: { doc: {"attributes":{"metadata_context":{"filter_metadata":{"f":{"a":true}}}}} } },
  { name: "firstProblemSorted", bytes: () => attrs(md(11, fm('f', cat(sfield('b', f64(2, NaN)), sfield('a', []))))), v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value: none of the oneof fields is set" } },
  { name: "firstProblemSortedOuter", bytes: () => attrs(md(11, fm('z', sfield('a', [])), fm('y', sfield('b', f64(2, -Infinity))))), v2: { parseError: "json: error calling MarshalJSON for type *structpb.Struct: proto: google.protobuf.Value.number_value: invalid -Inf value" } },
];

describe('decodeCheckRequest matches the Go plugin on edge cases', () => {
  for (const c of CASES) {
    for (const version of ['v3', 'v2'] as const) {
      const expected = c[version];
      if (expected === undefined) continue;
      const outcome = 'doc' in expected ? 'decodes' : 'wireError' in expected ? 'throws WireError' : 'throws RequestParseError';
      it(`${c.name} (${version}) ${outcome}`, () => check(c.bytes(), version, expected));
    }
  }
});

/** Builds deeply nested bytes from the inside out in linear time (prefixes are kept reversed). */
class Nest {
  private readonly prefixes: number[][] = [];
  private size: number;

  constructor(private readonly inner: number[]) {
    this.size = inner.length;
  }

  /** Wraps everything so far as length-delimited field `field`. */
  wrap(field: number): this {
    return this.prepend([...tag(field, 2), ...varint(this.size)]);
  }

  prepend(bytes: number[]): this {
    this.prefixes.push(bytes);
    this.size += bytes.length;
    return this;
  }

  bytes(): number[] {
    return cat(...this.prefixes.reverse(), this.inner);
  }
}

/** `levels` ListValues nested inside metadata_context (3 + 2 * levels nested messages in Go's count). */
function nestedLists(levels: number): number[] {
  const nest = new Nest(str(3, 'leaf'));
  for (let i = 0; i < levels; i++) nest.wrap(1).wrap(6);
  return attrs(md(11, fm('f', sfield('l', nest.bytes()))));
}

/** `levels` Structs nested inside metadata_context (3 nested messages per level in Go's count). */
function nestedStructs(levels: number): number[] {
  const nest = new Nest(str(3, 'leaf'));
  for (let i = 0; i < levels; i++) nest.wrap(2).prepend(str(1, 'k')).wrap(1).wrap(5);
  return attrs(md(11, fm('f', sfield('s', nest.bytes()))));
}

function nestedGroups(levels: number): number[] {
  const open: number[] = [];
  const close: number[] = [];
  for (let i = 0; i < levels; i++) {
    open.push(...tag(50, 3));
    close.push(...tag(50, 4));
  }
  return cat(open, close);
}

describe('decodeCheckRequest nesting limits (Go: 10000 nested messages, 10001 nested groups)', () => {
  it('100 nested ListValues decode to 100 nested arrays', () => {
    let expected: unknown = 'leaf';
    for (let i = 0; i < 100; i++) expected = [expected];
    for (const version of ['v3', 'v2'] as const) {
      const doc = decodeCheckRequest(Uint8Array.from(nestedLists(100)), version).doc;
      const attributes = doc['attributes'] as Record<string, Record<string, Record<string, unknown>>>;
      const metadata = version === 'v3' ? attributes['metadataContext']!['filterMetadata'] : attributes['metadata_context']!['filter_metadata'];
      expect(metadata).toStrictEqual({ f: { l: expected } });
    }
  });

  it('3332 nested Structs (10002 messages, Go: exceeded maximum recursion depth) throw WireError', () => {
    for (const version of ['v3', 'v2'] as const) {
      expect(() => decodeCheckRequest(Uint8Array.from(nestedStructs(3332)), version)).toThrow(/exceeded maximum recursion depth/);
    }
  });

  it('4997 nested ListValues (10003 messages, Go: exceeded maximum recursion depth) throw WireError', () => {
    for (const version of ['v3', 'v2'] as const) {
      expect(() => decodeCheckRequest(Uint8Array.from(nestedLists(4997)), version)).toThrow(WireError);
    }
  });

  it('10001 nested unknown groups are skipped like Go does', () => {
    check(nestedGroups(10001), 'v3', { doc: {} });
    check(nestedGroups(10001), 'v2', { doc: {} });
  });

  it('10002 nested unknown groups (Go: cannot parse invalid wire-format data) throw WireError', () => {
    check(nestedGroups(10002), 'v3', { wireError: 'groups nested too deep' });
    check(nestedGroups(10002), 'v2', { wireError: 'groups nested too deep' });
  });
});

describe('decodeCheckRequest with non-finite Struct numbers on v3', () => {
  // protomap's Struct.AsMap hands Go float64 NaN/±Inf to OPA (which keeps them as number text
  // JSON cannot carry); the decoder keeps the same float64 values.
  it('NaN, +Inf and -Inf number_value reach the policy as the strings the Go plugin gives (type_name "string")', () => {
    const bytes = attrs(md(11, fm('f', cat(sfield('nan', f64(2, NaN)), sfield('pos', f64(2, Infinity)), sfield('neg', f64(2, -Infinity))))));
    const doc = decodeCheckRequest(Uint8Array.from(bytes), 'v3').doc;
    expect(doc).toStrictEqual({ attributes: { metadataContext: { filterMetadata: { f: { nan: 'NaN', pos: 'Infinity', neg: '-Infinity' } } } } });
  });
});

/** mulberry32: a small seeded PRNG so the random inputs are the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Decodes with both versions; returns how many decodes threw. Anything but our two errors fails. */
function decodeOrReject(bytes: Uint8Array): number {
  let rejected = 0;
  for (const version of ['v3', 'v2'] as const) {
    try {
      decodeCheckRequest(bytes, version);
    } catch (err) {
      if (!(err instanceof WireError || err instanceof RequestParseError)) throw err;
      rejected++;
    }
  }
  return rejected;
}

describe('decodeCheckRequest on random bytes never crashes or hangs', () => {
  const full = officialV3Type('envoy.service.auth.v3.CheckRequest').encode(officialV3Type('envoy.service.auth.v3.CheckRequest').fromObject(FULL_REQUEST)).finish();

  it('3000 random garbage inputs of 0-64 bytes (seed 1) decode or throw WireError', () => {
    const next = random(1);
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(next() * 65) }, () => Math.floor(next() * 256));
      rejected += decodeOrReject(bytes);
    }
    expect(rejected).toBeGreaterThan(0);
    expect(rejected).toBeLessThan(6000);
  });

  it('3000 copies of the full request with 1-4 random bytes overwritten (seed 2) decode or throw WireError', () => {
    const next = random(2);
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from(full);
      const edits = 1 + Math.floor(next() * 4);
      for (let e = 0; e < edits; e++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      rejected += decodeOrReject(bytes);
    }
    expect(rejected).toBeGreaterThan(0);
    expect(rejected).toBeLessThan(6000);
  });

  it('every truncation of the full request (cut length past end) throws WireError', () => {
    for (let cut = 1; cut < full.length; cut++) {
      expect(decodeOrReject(full.subarray(0, cut))).toBe(2);
    }
  });
});
