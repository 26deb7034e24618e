// Event shape and text, against lines printed by the reference (opa-envoy-plugin 1.19.1 with
// decision_logs.console=true, and its upload body received by a node:http server). The reference also
// logs timer_rego_query_eval_ns / timer_rego_query_compile_ns, which kmesh-opa does not measure: those
// keys are taken out of the expected lines, everything else is the reference's text.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../src/authz/check.js';
import { createDecisionLogs, parseDecisionLogsConfig, type DecisionLogsDeps } from '../../src/decisionlog/index.js';
import { baseEvent, completeEvent, encodeEvent, formatTimestamp, uploadJson } from '../../src/decisionlog/event.js';
import { goJson } from '../../src/decisionlog/gojson.js';
import { applyMaskRules, parseMaskRules, pathEscape } from '../../src/decisionlog/mask.js';
import { createLogger } from '../../src/log.js';

const V3 = { ext_authz: 'v3', encoding: 'protojson' };

function record(over: Partial<DecisionRecord>): DecisionRecord {
  return { decisionId: 'id', version: 'v3', input: {}, result: true, allowed: true, revision: '', durationSeconds: 0, ...over };
}

/** Runs records through a console-only logger and returns the lines it wrote. */
async function consoleLines(records: DecisionRecord[], deps: Partial<DecisionLogsDeps> & { now: () => Date }): Promise<string[]> {
  const written: string[] = [];
  const logs = createDecisionLogs(parseDecisionLogsConfig({ console: true }, [])!, {
    labels: {},
    logger: createLogger('error', { write: () => undefined }),
    registry: new Registry(),
    console: { write: (s: string) => written.push(s) },
    path: 'envoy/authz/allow',
    ...deps,
  });
  for (const r of records) logs.log(r);
  expect(await logs.stop(5000)).toBe(true);
  return written.join('').split('\n').filter(Boolean);
}

describe('console lines', () => {
  it('matches the reference for a decision from a bundle, with <, >, & and U+2028 in the input', async () => {
    // Reference: opa-envoy-plugin run -b bundle2.tar.gz (revision rev-42), POST /x?a=<b>&c=\u2028 with body {}.
    const expected =
      '{"bundles":{"bundle2.tar.gz":{"revision":"rev-42"}},"decision_id":"17a95c11-8404-48f1-b588-9582d4b256c9","input":{"attributes":{"request":{"http":{"body":"{}","headers":{"content-type":"application/json"},"method":"POST","path":"/x?a=\\u003cb\\u003e\\u0026c=\\u2028"}}},"parsed_body":{},"parsed_path":["x"],"parsed_query":{"a":["\\u003cb\\u003e"],"c":["\\u2028"]},"truncated_body":false,"version":[[{"type":"string","value":"encoding"},{"type":"string","value":"protojson"}],[{"type":"string","value":"ext_authz"},{"type":"string","value":"v3"}]]},"labels":{"id":"a8c36dd3-5477-46e2-9d78-f1613f067710","version":"1.19.1"},"level":"info","metrics":{"timer_server_handler_ns":746629},"msg":"Decision Log","path":"envoy/authz/allow","result":false,"time":"2026-11-23T23:48:34Z","timestamp":"2026-11-23T23:48:34.962Z","type":"openpolicyagent.org/decision_logs"}';
    const input = {
      attributes: { request: { http: { method: 'POST', path: '/x?a=<b>&c=\u2028', headers: { 'content-type': 'application/json' }, body: '{}' } } },
      version: V3,
      parsed_path: ['x'],
      parsed_query: { a: ['<b>'], c: ['\u2028'] },
      parsed_body: {},
      truncated_body: false,
    };
    const lines = await consoleLines(
      [record({ decisionId: '17a95c11-8404-48f1-b588-9582d4b256c9', input, result: false, allowed: false, revision: 'rev-42', durationSeconds: 746629e-9 })],
      {
        labels: { id: 'a8c36dd3-5477-46e2-9d78-f1613f067710', version: '1.19.1' },
        bundleName: () => 'bundle2.tar.gz',
        now: () => new Date('2026-11-23T23:48:34.962Z'),
      },
    );
    expect(lines).toEqual([expected]);
  });

  it('matches the reference for a request the plugin could not parse: input null, the error as a string, no result', async () => {
    const expected =
      '{"bundles":{"bundle2.tar.gz":{"revision":"rev-42"}},"decision_id":"11a68459-2c85-45f0-bb88-349330fc185f","error":"invalid character \'b\' looking for beginning of object key string","input":null,"labels":{"id":"a8c36dd3-5477-46e2-9d78-f1613f067710","version":"1.19.1"},"level":"info","metrics":{"timer_server_handler_ns":48682},"msg":"Decision Log","path":"envoy/authz/allow","time":"2026-11-23T23:48:34Z","timestamp":"2026-11-23T23:48:34.913Z","type":"openpolicyagent.org/decision_logs"}';
    const lines = await consoleLines(
      [
        record({
          decisionId: '11a68459-2c85-45f0-bb88-349330fc185f',
          input: undefined,
          result: undefined,
          error: { reason: 'request_parse_error', message: "invalid character 'b' looking for beginning of object key string" },
          allowed: false,
          revision: 'rev-42',
          durationSeconds: 48682e-9,
        }),
      ],
      {
        labels: { id: 'a8c36dd3-5477-46e2-9d78-f1613f067710', version: '1.19.1' },
        bundleName: () => 'bundle2.tar.gz',
        now: () => new Date('2026-11-23T23:48:34.913Z'),
      },
    );
    expect(lines).toEqual([expected]);
  });

  it('leaves out the result of a decision that failed after evaluation (the policy answered a string)', async () => {
    // Reference (Rego files, no bundle): allow := "yes" -> error, and no result key although the policy had one.
    const [line] = await consoleLines(
      [
        record({
          decisionId: '9337d151-acdd-4441-b80f-e527ec6112ef',
          input: { parsed_path: ['str'], version: V3 },
          result: 'yes',
          error: { reason: 'envoyauth_result_error', message: 'failed to get response status: illegal value for policy evaluation result: string' },
          allowed: false,
          durationSeconds: 258033e-9,
        }),
      ],
      { labels: { id: 'eac3dc34-c2cb-4664-9290-226f4cfd515e', version: '1.19.1' }, now: () => new Date('2026-11-23T23:47:54.447Z') },
    );
    expect(line).toBe(
      '{"decision_id":"9337d151-acdd-4441-b80f-e527ec6112ef","error":"failed to get response status: illegal value for policy evaluation result: string","input":{"parsed_path":["str"],"version":[[{"type":"string","value":"encoding"},{"type":"string","value":"protojson"}],[{"type":"string","value":"ext_authz"},{"type":"string","value":"v3"}]]},"labels":{"id":"eac3dc34-c2cb-4664-9290-226f4cfd515e","version":"1.19.1"},"level":"info","metrics":{"timer_server_handler_ns":258033},"msg":"Decision Log","path":"envoy/authz/allow","time":"2026-11-23T23:47:54Z","timestamp":"2026-11-23T23:47:54.447Z","type":"openpolicyagent.org/decision_logs"}',
    );
  });

  it('logs the deprecated query instead of path when the query is what is configured', async () => {
    const [line] = await consoleLines([record({})], { path: undefined, query: 'data.envoy.authz.allow', now: () => new Date(0) });
    const fields = JSON.parse(line!) as Record<string, unknown>;
    expect(fields.query).toBe('data.envoy.authz.allow');
    expect(fields).not.toHaveProperty('path');
  });

  it('gives the v2 API version the same AST-pair form (keys sorted: encoding, ext_authz)', async () => {
    const [line] = await consoleLines([record({ version: 'v2', input: { version: { ext_authz: 'v2', encoding: 'encoding/json' } } })], { now: () => new Date(0) });
    expect(line).toContain(
      '"version":[[{"type":"string","value":"encoding"},{"type":"string","value":"encoding/json"}],[{"type":"string","value":"ext_authz"},{"type":"string","value":"v2"}]]',
    );
  });
});

describe('upload form', () => {
  it('writes the fields in the reference struct order, the error as an object', () => {
    // Reference: the upload body received from the plugin, one element of its JSON array.
    const expected =
      '{"labels":{"id":"eac3dc34-c2cb-4664-9290-226f4cfd515e","version":"1.19.1"},"decision_id":"319034dd-5642-45a9-a7ff-a368f837d8f6","path":"envoy/authz/allow","input":{"attributes":{"request":{"http":{"headers":{"x-secret":"***"},"method":"GET","path":"/none"}}},"parsed_body":null,"parsed_path":["none"],"parsed_query":{},"truncated_body":false,"version":[[{"type":"string","value":"encoding"},{"type":"string","value":"protojson"}],[{"type":"string","value":"ext_authz"},{"type":"string","value":"v3"}]]},"erased":["/input/attributes/request/http/headers/authorization"],"masked":["/input/attributes/request/http/headers/x-secret"],"error":{"message":"undefined decision"},"timestamp":"2026-11-23T23:47:54.540098772Z","metrics":{"timer_server_handler_ns":137294}}';
    const input = {
      attributes: { request: { http: { method: 'GET', path: '/none', headers: { authorization: 'Bearer x' } } } },
      version: V3,
      parsed_path: ['none'],
      parsed_query: {},
      parsed_body: null,
      truncated_body: false,
    };
    const rec = record({
      decisionId: '319034dd-5642-45a9-a7ff-a368f837d8f6',
      input,
      result: undefined,
      error: { reason: 'envoyauth_eval_error', message: 'undefined decision' },
      allowed: false,
      durationSeconds: 137294e-9,
    });
    const event = baseEvent(
      { record: rec, timestampNs: 1795477674540098772n, bundleName: undefined },
      { labels: { id: 'eac3dc34-c2cb-4664-9290-226f4cfd515e', version: '1.19.1' }, path: 'envoy/authz/allow' },
    );
    completeEvent(event, rec);
    // The reference policy's mask: remove authorization, upsert x-secret.
    applyMaskRules(parseMaskRules(['/input/attributes/request/http/headers/authorization', { op: 'upsert', path: '/input/attributes/request/http/headers/x-secret', value: '***' }]), event);
    expect(uploadJson(encodeEvent(event))).toBe(expected);
    expect((input.attributes.request.http.headers as Record<string, string>).authorization).toBe('Bearer x'); // the record is left alone
  });
});

describe('timestamps', () => {
  it.each([
    // Expected values from `opa eval 'time.format(ns)'` (RFC3339Nano, UTC).
    [1763941674962531197n, '2025-11-23T23:47:54.962531197Z'],
    [1763941674900000000n, '2025-11-23T23:47:54.9Z'],
    [1763941674000000000n, '2025-11-23T23:47:54Z'],
    [1763941674000000001n, '2025-11-23T23:47:54.000000001Z'],
  ])('%s ns is %s', (ns, text) => {
    expect(formatTimestamp(ns)).toBe(text);
  });
});

describe('Go JSON text', () => {
  it('sorts keys at every level and escapes HTML characters as encoding/json does', () => {
    expect(goJson({ b: 1, a: { d: '<&>', c: [true, null, 1.5e-7] } })).toBe('{"a":{"c":[true,null,1.5e-7],"d":"\\u003c\\u0026\\u003e"},"b":1}');
  });

  it('sorts integer-like keys as text, as Go does ("10" before "9")', () => {
    expect(goJson({ b: 1, 9: 'x', 10: 'y' })).toBe('{"10":"y","9":"x","b":1}');
  });

  it('writes a lone surrogate as U+FFFD but leaves an escaped backslash before "ud800" alone', () => {
    expect(goJson(['\uD800', '\\ud800'])).toBe('["\uFFFD","\\\\ud800"]');
  });
});

describe('mask rules', () => {
  it('are applied in the order of a Rego set, as `opa eval` lists the set', () => {
    // opa eval of the set below lists: "/input/a", "/input/z", "/result", {op: remove...}, {op: upsert...}, then {path: /input/aa}.
    const rules = parseMaskRules(['/input/a', '/result', { op: 'upsert', path: '/input/b', value: 1 }, '/input/z', { op: 'remove', path: '/input/c' }]);
    expect(rules.map((r) => `${r.op} ${r.text}`)).toEqual(['remove /input/a', 'remove /input/z', 'remove /result', 'remove /input/c', 'upsert /input/b']);
  });

  it.each([
    // Messages of OPA's mask rule parser (the reference logs "Log event masking failed: <message>." and drops the event).
    [[{ path: '/input/attributes' }], 'mask op is not supported: '],
    [['input/x'], 'mask must be slash-prefixed'],
    [['/labels/id'], 'mask prefix not allowed: labels'],
    [[{ op: 'remove', path: '' }], 'invalid "path" value:  string'],
    [[{ op: 7, path: '/input/x' }], 'invalid "op" value: 7 json.Number'],
    [['/input/%zz'], 'invalid URL escape "%zz"'],
    [[42], 'invalid mask rule format encountered: json.Number'],
  ])('reject the bad rule set %j', (result, message) => {
    expect(() => parseMaskRules(result)).toThrow(message);
  });

  it('rejects a mask result that is not a set or array (an object)', () => {
    expect(() => parseMaskRules({ a: 1 })).toThrow(/^unexpected rule format/);
  });

  it('remove and upsert follow OPA: missing paths are skipped, upsert creates objects, array elements are removed in place', () => {
    const rec = record({ input: { a: { list: [1, 2, 3] }, keep: 1 }, result: { allow: true } });
    const event = baseEvent({ record: rec, timestampNs: 0n, bundleName: undefined }, { labels: {} });
    applyMaskRules(
      parseMaskRules([
        '/input/a/list/1',
        '/input/missing/x',
        { op: 'upsert', path: '/input/new/deep', value: 'v' },
        { op: 'upsert', path: '/result/allow' },
        '/input/a/list/9',
      ]),
      event,
    );
    expect(event.input).toEqual({ a: { list: [1, 3] }, keep: 1, new: { deep: 'v' } });
    expect(event.result).toEqual({ allow: null });
    expect(event.erased).toEqual(['/input/a/list/1']);
    expect(event.masked).toEqual(['/input/new/deep', '/result/allow']);
  });

  it('looks keys up in their url.PathEscape form, as OPA does (a key with a space is never matched)', () => {
    expect(pathEscape('x secret/ü')).toBe('x%20secret%2F%C3%BC');
    const event = baseEvent({ record: record({ input: { 'x secret': 1 } }), timestampNs: 0n, bundleName: undefined }, { labels: {} });
    applyMaskRules(parseMaskRules(['/input/x secret']), event);
    expect(event.input).toEqual({ 'x secret': 1 });
    expect(event.erased).toBeUndefined();
  });
});
