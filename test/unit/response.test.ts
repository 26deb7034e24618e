// Expected values are the Go plugin's (opa-envoy-plugin v1.19.1): a policy returned each decision
// (json.unmarshal of a request header), and the CheckResponse it sent, or the gRPC error text it
// failed with, is written here as a literal. Go emits header lists in random map order; here they
// follow the decision's key order.
import { describe, expect, it } from 'vitest';
import { DecisionError, decisionToResponse, requestParseErrorResponse } from '../../src/authz/response.js';

const ID = 'decision-1';
const answer = (decision: unknown, dryRun = false) => decisionToResponse(decision, ID, { dryRun });

function failure(decision: unknown): string {
  try {
    answer(decision);
  } catch (err) {
    expect(err).toBeInstanceOf(DecisionError);
    return (err as Error).message;
  }
  throw new Error('expected a DecisionError');
}

describe('boolean decisions', () => {
  it('true: OK without an http response', () => {
    expect(answer(true)).toEqual({ status: { code: 0 }, dynamicMetadata: { decision_id: ID } });
  });

  it('false: PERMISSION_DENIED without an http response (Envoy applies its default 403)', () => {
    expect(answer(false)).toEqual({ status: { code: 7 }, dynamicMetadata: { decision_id: ID } });
  });

  it.each([
    ['a string', 'yes', 'string'],
    ['a number', 1, 'json.Number'],
    ['null', null, '<nil>'],
    ['an array', [true], '[]interface {}'],
  ])('decision that is %s fails', (_, decision, type) => {
    expect(failure(decision)).toBe(`failed to get response status: illegal value for policy evaluation result: ${type}`);
  });
});

describe('object decisions: allowed', () => {
  it('allowed true with nothing else: an empty ok_response', () => {
    expect(answer({ allowed: true })).toEqual({ status: { code: 0 }, okResponse: {}, dynamicMetadata: { decision_id: ID } });
  });

  it('allowed false with nothing else: denied 403', () => {
    expect(answer({ allowed: false })).toEqual({ status: { code: 7 }, deniedResponse: { status: 403 }, dynamicMetadata: { decision_id: ID } });
  });

  it('object without allowed fails', () => {
    expect(failure({})).toBe('failed to get response status: unable to determine evaluation result due to missing "allowed" key');
  });

  it.each([
    ['"true"', 'true', 'string'],
    ['1', 1, 'json.Number'],
    ['null', null, '<nil>'],
    ['[]', [], '[]interface {}'],
    ['{}', {}, 'map[string]interface {}'],
  ])('allowed %s fails', (_, allowed, type) => {
    expect(failure({ allowed })).toBe(
      `failed to get response status: type assertion error, expected allowed to be of type 'boolean' but got '${type}'`,
    );
  });

  it('ignores keys it does not know', () => {
    expect(answer({ allowed: true, extra: 'ignored' })).toEqual({ status: { code: 0 }, okResponse: {}, dynamicMetadata: { decision_id: ID } });
  });
});

describe('allowed: ok_response', () => {
  it('carries headers, headers to remove, response headers to add and query parameters; body and http_status are ignored', () => {
    const decision = {
      allowed: true,
      headers: { 'x-a': '1', 'x-b': ['2', '3'] },
      request_headers_to_remove: ['r1', 'r2'],
      response_headers_to_add: { y: '1' },
      query_parameters_to_set: { q: '1', q2: ['a', 'b'] },
      query_parameters_to_remove: ['z'],
      body: 'ignored',
      http_status: 401,
      dynamic_metadata: { m: 1, n: { o: [true, null, 's'] } },
    };
    expect(answer(decision)).toEqual({
      status: { code: 0 },
      okResponse: {
        headers: [
          { header: { key: 'x-a', value: '1' } },
          { header: { key: 'x-b', value: '2' } },
          { header: { key: 'x-b', value: '3' } },
        ],
        headersToRemove: ['r1', 'r2'],
        responseHeadersToAdd: [{ header: { key: 'y', value: '1' } }],
        queryParametersToSet: [
          { key: 'q', value: '1' },
          { key: 'q2', value: 'a' },
          { key: 'q2', value: 'b' },
        ],
        queryParametersToRemove: ['z'],
      },
      dynamicMetadata: { m: 1, n: { o: [true, null, 's'] }, decision_id: ID },
    });
  });

  it('never sets append on a header option', () => {
    const ok = answer({ allowed: true, headers: { a: '1' }, response_headers_to_add: { b: '2' } }).okResponse;
    expect(ok?.headers?.[0]).not.toHaveProperty('append');
    expect(ok?.responseHeadersToAdd?.[0]).not.toHaveProperty('append');
  });

  it('accepts headers as a list of objects, in list order', () => {
    expect(answer({ allowed: true, headers: [{ a: '1' }, { a: '2', b: ['3'] }] }).okResponse).toEqual({
      headers: [{ header: { key: 'a', value: '1' } }, { header: { key: 'a', value: '2' } }, { header: { key: 'b', value: '3' } }],
    });
    expect(answer({ allowed: true, response_headers_to_add: [{ a: '1' }, { b: '2' }] }).okResponse).toEqual({
      responseHeadersToAdd: [{ header: { key: 'a', value: '1' } }, { header: { key: 'b', value: '2' } }],
    });
  });

  it.each([
    ['headers', []],
    ['headers', {}],
    ['headers', { a: [] }],
    ['request_headers_to_remove', []],
    ['query_parameters_to_set', {}],
    ['query_parameters_to_set', { a: [] }],
    ['dynamic_metadata', {}],
  ])('empty %s %j gives an empty ok_response', (key, value) => {
    expect(answer({ allowed: true, [key]: value })).toEqual({ status: { code: 0 }, okResponse: {}, dynamicMetadata: { decision_id: ID } });
  });

  it.each([
    [{ headers: [{ a: '1' }, 'x'] }, "failed to get response headers: type assertion error, expected headers to be of type 'object' but got 'string'"],
    [{ headers: 'x' }, "failed to get response headers: type assertion error, expected headers to be of type 'object' but got 'string'"],
    [{ headers: null }, "failed to get response headers: type assertion error, expected headers to be of type 'object' but got '<nil>'"],
    [{ headers: { a: 1 } }, "failed to get response headers: type assertion error for header 'a'"],
    [{ headers: { a: null } }, "failed to get response headers: type assertion error for header 'a'"],
    [{ headers: { a: {} } }, "failed to get response headers: type assertion error for header 'a'"],
    [{ headers: { a: [1] } }, "failed to get response headers: invalid value type json.Number for header 'a'"],
    [{ response_headers_to_add: { a: 1 } }, "failed to get response headers to send to client: type assertion error for header 'a'"],
    [
      { response_headers_to_add: 1 },
      "failed to get response headers to send to client: type assertion error, expected headers to be of type 'object' but got 'json.Number'",
    ],
    [
      { request_headers_to_remove: 'x' },
      "failed to get request headers to remove: type assertion error, expected request_headers_to_remove to be of type '[]string' but got 'string'",
    ],
    [
      { request_headers_to_remove: null },
      "failed to get request headers to remove: type assertion error, expected request_headers_to_remove to be of type '[]string' but got '<nil>'",
    ],
    [
      { request_headers_to_remove: { a: 1 } },
      "failed to get request headers to remove: type assertion error, expected request_headers_to_remove to be of type '[]string' but got 'map[string]interface {}'",
    ],
    [
      { request_headers_to_remove: [1] },
      "failed to get request headers to remove: type assertion error, expected request_headers_to_remove value to be of type 'string' but got 'json.Number'",
    ],
    [
      { query_parameters_to_remove: 'x' },
      "failed to get request query parameters to remove: type assertion error, expected query_parameters_to_remove to be of type '[]string' but got 'string'",
    ],
    [
      { query_parameters_to_remove: [null] },
      "failed to get request query parameters to remove: type assertion error, expected query_parameters_to_remove value to be of type 'string' but got '<nil>'",
    ],
    [
      { query_parameters_to_set: [] },
      "failed to get request query parameters to set: type assertion error, expected query_parameters_to_set to be a map but got '[]interface {}'",
    ],
    [
      { query_parameters_to_set: { a: 1 } },
      "failed to get request query parameters to set: type assertion error, expected value to be string or array but got 'json.Number'",
    ],
    [
      { query_parameters_to_set: { a: [1] } },
      "failed to get request query parameters to set: type assertion error: expected array element to be string but got 'json.Number'",
    ],
    [
      { dynamic_metadata: 'x' },
      "failed to get dynamic metadata: type assertion error, expected dynamic_metadata to be of type 'object' but got 'string'",
    ],
    [
      { dynamic_metadata: null },
      "failed to get dynamic metadata: type assertion error, expected dynamic_metadata to be of type 'object' but got '<nil>'",
    ],
  ])('allowed decision with bad %j fails', (fields, message) => {
    expect(failure({ allowed: true, ...fields })).toBe(message);
  });

  it.each([
    // Several bad keys: the plugin reports them in a fixed order.
    [{ request_headers_to_remove: 1, response_headers_to_add: 1 }, 'failed to get request headers to remove'],
    [{ response_headers_to_add: 1, query_parameters_to_remove: 1 }, 'failed to get response headers to send to client'],
    [{ query_parameters_to_remove: 1, query_parameters_to_set: 1 }, 'failed to get request query parameters to remove'],
    [{ headers: 1, dynamic_metadata: 1 }, 'failed to get response headers'],
  ])('allowed decision with several bad keys %j reports %j first', (fields, prefix) => {
    expect(failure({ allowed: true, ...fields })).toMatch(new RegExp(`^${prefix}: `));
  });

  it('does not read denial keys: a bad body and http_status pass when allowed', () => {
    expect(answer({ allowed: true, body: 1, http_status: 'x' })).toEqual({ status: { code: 0 }, okResponse: {}, dynamicMetadata: { decision_id: ID } });
  });
});

describe('denied: denied_response', () => {
  it('carries headers, body and status; ok-only keys are ignored', () => {
    const decision = {
      allowed: false,
      headers: { 'x-a': '1', 'x-b': ['2', '3'] },
      request_headers_to_remove: ['r1', 'r2'],
      response_headers_to_add: { y: '1' },
      query_parameters_to_set: { q: '1' },
      query_parameters_to_remove: ['z'],
      body: 'denied!',
      http_status: 401,
      dynamic_metadata: { m: 1 },
    };
    expect(answer(decision)).toEqual({
      status: { code: 7 },
      deniedResponse: {
        status: 401,
        headers: [
          { header: { key: 'x-a', value: '1' } },
          { header: { key: 'x-b', value: '2' } },
          { header: { key: 'x-b', value: '3' } },
        ],
        body: 'denied!',
      },
      dynamicMetadata: { m: 1, decision_id: ID },
    });
  });

  it('ok-only keys with bad types pass when denied', () => {
    expect(answer({ allowed: false, request_headers_to_remove: 1, query_parameters_to_set: 1, response_headers_to_add: 1 })).toEqual({
      status: { code: 7 },
      deniedResponse: { status: 403 },
      dynamicMetadata: { decision_id: ID },
    });
  });

  it.each([100, 200, 302, 401, 429, 511])('http_status %i is sent', (code) => {
    expect(answer({ allowed: false, http_status: code }).deniedResponse).toEqual({ status: code });
  });

  it('an empty body leaves the body out', () => {
    expect(answer({ allowed: false, body: '' }).deniedResponse).toEqual({ status: 403 });
  });

  it.each([
    [{ body: 1 }, "failed to get response body: type assertion error, expected body to be of type 'string' but got 'json.Number'"],
    [{ body: null }, "failed to get response body: type assertion error, expected body to be of type 'string' but got '<nil>'"],
    [{ http_status: '401' }, "failed to get response http status: type assertion error, expected http_status to be of type 'number' but got 'string'"],
    [{ http_status: null }, "failed to get response http status: type assertion error, expected http_status to be of type 'number' but got '<nil>'"],
    [{ http_status: 401.5 }, 'failed to get response http status: error converting JSON number to int: strconv.ParseInt: parsing "401.5": invalid syntax'],
    [
      { http_status: 100000000000000000000 },
      'failed to get response http status: error converting JSON number to int: strconv.ParseInt: parsing "100000000000000000000": value out of range',
    ],
    [{ http_status: 999 }, 'failed to get response http status: invalid HTTP status code 999'],
    // Known to Go's net/http but not to Envoy's StatusCode enum.
    [{ http_status: 418 }, 'failed to get response http status: invalid HTTP status code 418'],
    [{ http_status: 102 }, 'failed to get response http status: invalid HTTP status code 102'],
    [{ http_status: 0 }, 'failed to get response http status: invalid HTTP status code 0'],
    [{ http_status: -1 }, 'failed to get response http status: invalid HTTP status code -1'],
    // Several bad keys: headers, then dynamic_metadata, then body, then http_status.
    [{ headers: 'x', dynamic_metadata: 'y', body: 1 }, "failed to get response headers: type assertion error, expected headers to be of type 'object' but got 'string'"],
    [{ dynamic_metadata: 'y', body: 1 }, "failed to get dynamic metadata: type assertion error, expected dynamic_metadata to be of type 'object' but got 'string'"],
    [{ body: 1, http_status: 'x' }, "failed to get response body: type assertion error, expected body to be of type 'string' but got 'json.Number'"],
  ])('denied decision with bad %j fails', (fields, message) => {
    expect(failure({ allowed: false, ...fields })).toBe(message);
  });
});

describe('dynamic metadata', () => {
  it('the decision id replaces a decision_id the policy set', () => {
    expect(answer({ allowed: true, dynamic_metadata: { decision_id: 'mine', x: 1.5 } }).dynamicMetadata).toEqual({ decision_id: ID, x: 1.5 });
  });

  it('does not change the decision object', () => {
    const metadata = { x: 1 };
    answer({ allowed: true, dynamic_metadata: metadata });
    expect(metadata).toEqual({ x: 1 });
  });
});

describe('dry run', () => {
  it('turns a denial into OK with an empty ok_response, keeping the dynamic metadata', () => {
    expect(answer({ allowed: false, headers: { a: 'b' }, body: 'x', dynamic_metadata: { m: 1 } }, true)).toEqual({
      status: { code: 0 },
      okResponse: {},
      dynamicMetadata: { m: 1, decision_id: ID },
    });
  });

  it('turns false into OK with an empty ok_response', () => {
    expect(answer(false, true)).toEqual({ status: { code: 0 }, okResponse: {}, dynamicMetadata: { decision_id: ID } });
  });

  it('leaves true as it is (no ok_response)', () => {
    expect(answer(true, true)).toEqual({ status: { code: 0 }, dynamicMetadata: { decision_id: ID } });
  });

  it('still fails on a bad decision (body 1)', () => {
    expect(() => answer({ allowed: false, body: 1 }, true)).toThrow(
      new DecisionError("failed to get response body: type assertion error, expected body to be of type 'string' but got 'json.Number'"),
    );
  });
});

describe('requestParseErrorResponse', () => {
  it('denies with 400 and the error in status message and body, without dynamic metadata', () => {
    expect(requestParseErrorResponse('invalid URL escape "%zz"')).toEqual({
      status: { code: 7, message: 'request_parse_error: invalid URL escape "%zz"' },
      deniedResponse: { status: 400, body: 'request_parse_error: invalid URL escape "%zz"' },
    });
  });
});
