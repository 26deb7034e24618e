// Encoding CheckResponse (src/authz/wire.ts): the bytes are decoded with Envoy's official protos
// and compared field by field, and compared byte for byte with what the reference Go plugin
// (opa-envoy-plugin v1.19.1) sent for the same decision.
import { describe, expect, it } from 'vitest';
import { officialV3Type } from '../helpers/envoy-client.js';
import { encodeCheckResponse } from '../../src/authz/wire.js';
import type { CheckResponse, Json, JsonObject } from '../../src/authz/types.js';

// v2 bytes are read with the v3 type too (v2 protos are not shipped); v3-only fields must come out absent.
const CheckResponseType = officialV3Type('envoy.service.auth.v3.CheckResponse');

function decoded(bytes: Uint8Array): Record<string, unknown> {
  return CheckResponseType.toObject(CheckResponseType.decode(bytes), { oneofs: true });
}

type ProtoValue = Record<string, unknown>;

/** google.protobuf.Struct as protobufjs decodes it -> the JSON it carries. */
function structJson(struct: unknown): JsonObject {
  const fields = ((struct as { fields?: Record<string, ProtoValue> }).fields ?? {}) as Record<string, ProtoValue>;
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, valueJson(value)]));
}

function valueJson(value: ProtoValue): Json {
  switch (value['kind']) {
    case 'nullValue':
      return null;
    case 'numberValue':
    case 'stringValue':
    case 'boolValue':
      return value[value['kind']] as Json;
    case 'structValue':
      return structJson(value['structValue']);
    case 'listValue': {
      const values = ((value['listValue'] as { values?: ProtoValue[] }).values ?? []) as ProtoValue[];
      return values.map(valueJson);
    }
    default:
      throw new Error(`Value without kind: ${JSON.stringify(value)}`);
  }
}

const METADATA: JsonObject = {
  decision_id: '3b0f5e2c-1d4a-4c59-9f0e-0a1b2c3d4e5f',
  nothing: null,
  zero: 0,
  negative: -1.5,
  huge: 1e300,
  integer: 42,
  empty: '',
  unicode: 'héllo €𝄞',
  no: false,
  yes: true,
  nested: { list: [1, 'two', null, false, { deep: [] }, []], object: {} },
};

const HEADERS = [
  { header: { key: 'x-plain', value: 'v' } },
  { header: { key: 'x-append', value: 'a' }, append: true },
  { header: { key: 'x-replace', value: 'é€' }, append: false },
];

const ALLOW: CheckResponse = {
  status: { code: 0 },
  okResponse: {
    headers: HEADERS,
    headersToRemove: ['x-remove-1', 'x-remove-2'],
    responseHeadersToAdd: [{ header: { key: 'x-resp', value: 'r' }, append: true }],
    queryParametersToSet: [{ key: 'q', value: 'v w' }, { key: 'k', value: '' }],
    queryParametersToRemove: ['old', 'older'],
  },
  dynamicMetadata: METADATA,
};

const DENY: CheckResponse = {
  status: { code: 7, message: 'denied by policy' },
  deniedResponse: { status: 403, headers: HEADERS, body: '{"error":"no ü"}' },
  dynamicMetadata: METADATA,
};

describe('encodeCheckResponse v3', () => {
  it('allow: every OkHttpResponse field and the dynamic metadata read back with Envoy\'s protos', () => {
    const message = decoded(encodeCheckResponse(ALLOW, 'v3'));
    expect(message['status']).toStrictEqual({});
    expect(message['httpResponse']).toBe('okResponse');
    expect(message['okResponse']).toStrictEqual({
      headers: [
        { header: { key: 'x-plain', value: 'v' } },
        { header: { key: 'x-append', value: 'a' }, append: { value: true } },
        // append false is a BoolValue that is set but holds the default.
        { header: { key: 'x-replace', value: 'é€' }, append: {} },
      ],
      headersToRemove: ['x-remove-1', 'x-remove-2'],
      responseHeadersToAdd: [{ header: { key: 'x-resp', value: 'r' }, append: { value: true } }],
      queryParametersToSet: [{ key: 'q', value: 'v w' }, { key: 'k' }],
      queryParametersToRemove: ['old', 'older'],
    });
    expect(structJson(message['dynamicMetadata'])).toStrictEqual(METADATA);
  });

  it('deny: status message, HttpStatus, headers, body and dynamic metadata read back with Envoy\'s protos', () => {
    const message = decoded(encodeCheckResponse(DENY, 'v3'));
    expect(message['status']).toStrictEqual({ code: 7, message: 'denied by policy' });
    expect(message['httpResponse']).toBe('deniedResponse');
    expect(message['deniedResponse']).toStrictEqual({
      status: { code: 403 },
      headers: [
        { header: { key: 'x-plain', value: 'v' } },
        { header: { key: 'x-append', value: 'a' }, append: { value: true } },
        { header: { key: 'x-replace', value: 'é€' }, append: {} },
      ],
      body: '{"error":"no ü"}',
    });
    expect(structJson(message['dynamicMetadata'])).toStrictEqual(METADATA);
  });

  it('leaves out what is unset: no http response, no denied status, empty ok response, no metadata', () => {
    expect(decoded(encodeCheckResponse({ status: { code: 7 } }, 'v3'))).toStrictEqual({ status: { code: 7 } });
    expect(decoded(encodeCheckResponse({ status: { code: 0 }, okResponse: {} }, 'v3'))).toStrictEqual({
      status: {},
      okResponse: {},
      httpResponse: 'okResponse',
    });
    expect(decoded(encodeCheckResponse({ status: { code: 7 }, deniedResponse: {} }, 'v3'))).toStrictEqual({
      status: { code: 7 },
      deniedResponse: {},
      httpResponse: 'deniedResponse',
    });
  });

  it('a negative google.rpc.Status code (10-byte varint) reads back', () => {
    expect(decoded(encodeCheckResponse({ status: { code: -2 } }, 'v3'))).toStrictEqual({ status: { code: -2 } });
  });

  it('a long body (multi-byte length prefix) reads back', () => {
    const body = 'ü'.repeat(70000);
    const message = decoded(encodeCheckResponse({ status: { code: 7 }, deniedResponse: { status: 401, body } }, 'v3'));
    expect(message['deniedResponse']).toStrictEqual({ status: { code: 401 }, body });
  });
});

describe('encodeCheckResponse v2 (what the plugin\'s v2 conversion keeps)', () => {
  it('allow: only status and ok headers, without append; no v3-only fields, no dynamic metadata', () => {
    expect(decoded(encodeCheckResponse(ALLOW, 'v2'))).toStrictEqual({
      status: {},
      okResponse: {
        headers: [
          { header: { key: 'x-plain', value: 'v' } },
          { header: { key: 'x-append', value: 'a' } },
          { header: { key: 'x-replace', value: 'é€' } },
        ],
      },
      httpResponse: 'okResponse',
    });
  });

  it('deny: status, HttpStatus, headers without append and body; no dynamic metadata', () => {
    expect(decoded(encodeCheckResponse(DENY, 'v2'))).toStrictEqual({
      status: { code: 7, message: 'denied by policy' },
      deniedResponse: {
        status: { code: 403 },
        headers: [
          { header: { key: 'x-plain', value: 'v' } },
          { header: { key: 'x-append', value: 'a' } },
          { header: { key: 'x-replace', value: 'é€' } },
        ],
        body: '{"error":"no ü"}',
      },
      httpResponse: 'deniedResponse',
    });
  });
});

describe('encodeCheckResponse is byte-identical to the Go plugin', () => {
  // Captured from opa-envoy-plugin answering a policy whose result object sets headers
  // {"x-a": "1", "x-b": ["2", "3"]}, request_headers_to_remove ["x-rm"], response_headers_to_add
  // {"x-resp": "r"}, query_parameters_to_set {"q": "v"}, query_parameters_to_remove ["old"],
  // body "denied body", http_status 401 and dynamic_metadata (plus the plugin's decision_id).
  const headers = [
    { header: { key: 'x-a', value: '1' } },
    { header: { key: 'x-b', value: '2' } },
    { header: { key: 'x-b', value: '3' } },
  ];
  const okResponse = {
    headers,
    headersToRemove: ['x-rm'],
    responseHeadersToAdd: [{ header: { key: 'x-resp', value: 'r' } }],
    queryParametersToSet: [{ key: 'q', value: 'v' }],
    queryParametersToRemove: ['old'],
  };
  const deniedResponse = { status: 401, headers, body: 'denied body' };

  it('v2 allow', () => {
    const go = 'CgAaJBIKCggKA3gtYRIBMRIKCggKA3gtYhIBMhIKCggKA3gtYhIBMw==';
    expect(encodeCheckResponse({ status: { code: 0 }, okResponse }, 'v2').toString('base64')).toBe(go);
  });

  it('v2 deny', () => {
    const go = 'CgIIBxI2CgMIkQMSCgoICgN4LWESATESCgoICgN4LWISATISCgoICgN4LWISATMaC2RlbmllZCBib2R5';
    expect(encodeCheckResponse({ status: { code: 7 }, deniedResponse }, 'v2').toString('base64')).toBe(go);
  });

  it('v3 allow with dynamic metadata (keys in the order Go happened to write its map)', () => {
    const go =
      'CgAiiQEKDgoBbhIJEQAAAAAAAPg/CiQKAW8SHyodChsKAWwSFjIUCgkRAAAAAAAA8D8KAxoBeAoCIAAKNQoLZGVjaXNpb25faWQSJhokZGUy' +
      'ZDBlYjEtMjIzMy00Y2U5LTk2ODYtNGRjNDc3ODNkNTQ3CgcKAXoSAggACgcKAWISAiABCggKAWsSAxoBdhpGEgoKCAoDeC1hEgExEgoKCAoD' +
      'eC1iEgEyEgoKCAoDeC1iEgEzKgR4LXJtMg0KCwoGeC1yZXNwEgFyOgYKAXESAXZCA29sZA==';
    const dynamicMetadata: JsonObject = {
      n: 1.5,
      o: { l: [1, 'x', false] },
      decision_id: 'de2d0eb1-2233-4ce9-9686-4dc47783d547',
      z: null,
      b: true,
      k: 'v',
    };
    expect(encodeCheckResponse({ status: { code: 0 }, okResponse, dynamicMetadata }, 'v3').toString('base64')).toBe(go);
  });

  it('v3 deny with dynamic metadata (keys in the order Go happened to write its map)', () => {
    const go =
      'CgIIByKJAQoHCgFiEgIgAQoICgFrEgMaAXYKNQoLZGVjaXNpb25faWQSJhokYmVlYmE0OGYtYTdmZC00Yzk5LTk5NDctYWIwNjA5ZDBhODJj' +
      'Cg4KAW4SCREAAAAAAAD4PwokCgFvEh8qHQobCgFsEhYyFAoJEQAAAAAAAPA/CgMaAXgKAiAACgcKAXoSAggAEjYKAwiRAxIKCggKA3gtYRIB' +
      'MRIKCggKA3gtYhIBMhIKCggKA3gtYhIBMxoLZGVuaWVkIGJvZHk=';
    const dynamicMetadata: JsonObject = {
      b: true,
      k: 'v',
      decision_id: 'beeba48f-a7fd-4c99-9947-ab0609d0a82c',
      n: 1.5,
      o: { l: [1, 'x', false] },
      z: null,
    };
    expect(encodeCheckResponse({ status: { code: 7 }, deniedResponse, dynamicMetadata }, 'v3').toString('base64')).toBe(go);
  });
});
