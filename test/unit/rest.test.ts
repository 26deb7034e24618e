// The REST API against a real compiled policy. Expected answers are what OPA 1.19.1 answers for the same
// policy and request (`opa run --server policy.rego health.rego data.json`, compared with curl); each
// literal below was recorded from it unless a comment says the behaviour is this agent's own.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyBytes, type ActivePolicy } from '../../src/engine/load.js';
import { createLogger } from '../../src/log.js';
import type { ApiDecision, ApiDeps, PluginState, Probe } from '../../src/server/api.js';
import { listenHttp, type HttpListener } from '../../src/server/http.js';
import { createRestHandler, redactConfig } from '../../src/server/rest.js';
import { buildBundle } from '../helpers/tools.js';

const POLICY = `package envoy.authz

default allow := false

allow if input.user == "alice"

greeting := sprintf("hello %s", [input.user]) if input.user

obj := {"z": 1, "a": "<&>", "m": [3, 2, 1]}

conflict := 1 if input.a

conflict := 2 if input.b
`;

const HEALTH_POLICY = `package system.health

custom if input.plugins_ready
`;

const CONFIG = {
  services: { acme: { url: 'http://127.0.0.1:1', credentials: { bearer: { token: 'secret' } } }, other: { url: 'http://127.0.0.1:2' } },
  keys: { k1: { algorithm: 'RS256', key: 'pubkey', private_key: 'privkey', scope: 'read' } },
  labels: { app: 'demo' },
  decision_logs: { console: true },
};

function loadTestPolicy(): ActivePolicy {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-rest-'));
  writeFileSync(join(dir, 'policy.rego'), POLICY);
  writeFileSync(join(dir, 'health.rego'), HEALTH_POLICY);
  writeFileSync(join(dir, 'data.json'), '{"static": {"list": [1, 2, 3], "name": "x"}}');
  const bundle = buildBundle([join(dir, 'policy.rego'), join(dir, 'health.rego'), join(dir, 'data.json')], ['envoy/authz/allow', 'envoy/authz', 'system/health']);
  const options = { decision: 'envoy/authz/allow', maxMemoryPages: 2048, regoVersion: 'auto' as const, compiler: undefined, cacheDir: dir };
  return loadPolicyBytes(readFileSync(bundle), options, bundle);
}

const state = {
  plugins: { decision_logs: 'OK' } as Record<string, PluginState>,
  live: { ok: true } as Probe,
  ready: { ok: true } as Probe,
};
const decisions: ApiDecision[] = [];
let decisionLogFails = false;

function makeDeps(active: ActivePolicy, extra: Partial<ApiDeps>): ApiDeps {
  return {
    evaluate: (path, input) => active.policy.evaluatePath(path, input),
    policies: () => [{ id: 'policy.rego', raw: POLICY }],
    config: () => CONFIG,
    plugins: () => state.plugins,
    live: () => state.live,
    ready: () => state.ready,
    registry: new Registry(),
    log: createLogger('error', { write: () => true }),
    ...extra,
  };
}

let plain: HttpListener;
let logged: HttpListener;
let plainDeps: ApiDeps;
let base: string;
let loggedBase: string;

beforeAll(async () => {
  const active = loadTestPolicy();
  plainDeps = makeDeps(active, { defaultDecision: '/envoy/authz/greeting', bodyLimits: { maxBytes: 4096, maxGzipBytes: 8192 } });
  const loggedDeps = makeDeps(active, {
    decisionLog: (d) => {
      if (decisionLogFails) throw new Error('buffer full');
      decisions.push(d);
    },
  });
  plain = await listenHttp('127.0.0.1:0', createRestHandler(plainDeps), plainDeps.log, 'REST API');
  logged = await listenHttp('127.0.0.1:0', createRestHandler(loggedDeps), loggedDeps.log, 'REST API');
  base = `http://127.0.0.1:${plain.port}`;
  loggedBase = `http://127.0.0.1:${logged.port}`;
});

afterAll(async () => {
  await plain?.close(1000);
  await logged?.close(1000);
});

async function call(path: string, init: RequestInit = {}, root = base): Promise<{ status: number; type: string | null; body: string; headers: Headers }> {
  const res = await fetch(root + path, { redirect: 'manual', ...init });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text(), headers: res.headers };
}

function post(path: string, body: string, headers: Record<string, string> = {}, root = base) {
  return call(path, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } }, root);
}

const q = encodeURIComponent;

describe('GET /v1/data', () => {
  it('answers a decision with result (and no decision_id when decision logs are off)', async () => {
    expect(await call('/v1/data/envoy/authz/allow')).toMatchObject({ status: 200, type: 'application/json', body: '{"result":false}\n' });
    expect((await call(`/v1/data/envoy/authz/allow?input=${q('{"user":"alice"}')}`)).body).toBe('{"result":true}\n');
  });

  it('reads data documents and indexes into arrays', async () => {
    expect((await call('/v1/data/static/list/1')).body).toBe('{"result":2}\n');
  });

  it('answers an undefined or absent document with 200 and no result', async () => {
    expect(await call('/v1/data/envoy/authz/greeting')).toMatchObject({ status: 200, body: '{}\n' });
    expect(await call('/v1/data/nope/x')).toMatchObject({ status: 200, body: '{}\n' });
  });

  it('writes JSON as Go does: sorted keys, HTML-safe escapes, two-space indent with ?pretty', async () => {
    expect((await call('/v1/data/envoy/authz/obj')).body).toBe('{"result":{"a":"\\u003c\\u0026\\u003e","m":[3,2,1],"z":1}}\n');
    const pretty = '{\n  "result": {\n    "a": "\\u003c\\u0026\\u003e",\n    "m": [\n      3,\n      2,\n      1\n    ],\n    "z": 1\n  }\n}\n';
    expect((await call('/v1/data/envoy/authz/obj?pretty')).body).toBe(pretty);
    expect((await call('/v1/data/envoy/authz/obj?pretty=TRUE')).body).toBe(pretty);
    // OPA takes only "true" (any case) or an empty value as true.
    expect((await call('/v1/data/envoy/authz/obj?pretty=1')).body).toBe('{"result":{"a":"\\u003c\\u0026\\u003e","m":[3,2,1],"z":1}}\n');
  });

  it('uses the last input parameter', async () => {
    expect((await call(`/v1/data/envoy/authz/allow?input=&input=${q('{"user":"alice"}')}`)).body).toBe('{"result":true}\n');
  });

  it('includes OPA metric names with ?metrics', async () => {
    const { body } = await call('/v1/data/envoy/authz/allow?metrics');
    const doc = JSON.parse(body) as { metrics: Record<string, number>; result: boolean };
    expect(Object.keys(doc.metrics)).toEqual(['counter_server_query_cache_hit', 'timer_rego_input_parse_ns', 'timer_rego_query_eval_ns', 'timer_server_handler_ns']);
    expect(doc.metrics.timer_server_handler_ns).toBeGreaterThanOrEqual(doc.metrics.timer_rego_query_eval_ns!);
    expect(body.indexOf('"metrics"')).toBeLessThan(body.indexOf('"result"'));
  });

  it('rejects a malformed input parameter ({bad) with 400 invalid_parameter', async () => {
    const res = await call(`/v1/data/envoy/authz/allow?input=${q('{bad')}`);
    expect(res).toMatchObject({ status: 400, type: 'application/json' });
    expect(res.body).toBe(
      '{\n  "code": "invalid_parameter",\n  "message": "parameter contains malformed input document: invalid character \'b\' looking for beginning of object key string"\n}\n',
    );
    expect(JSON.parse((await call('/v1/data/envoy/authz/allow?input=')).body)).toEqual({
      code: 'invalid_parameter',
      message: 'parameter contains malformed input document: EOF',
    });
    expect(JSON.parse((await call(`/v1/data/envoy/authz/allow?input=${q('1 2')}`)).body).message).toBe(
      "parameter contains malformed input document: error: invalid character '2' after top-level value",
    );
  });

  it('answers a path segment holding a double quote (a%22b) with OPA\'s 500', async () => {
    const res = await call('/v1/data/envoy/a%22b');
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body)).toEqual({ code: 'internal_error', message: 'invalid_parameter: invalid path: invalid ref term \'a"b\'' });
  });

  it('reports a conflict in the policy as an evaluation error', async () => {
    const res = await call(`/v1/data/envoy/authz/conflict?input=${q('{"a":true,"b":true}')}`);
    expect(res.status).toBe(500);
    const doc = JSON.parse(res.body) as { code: string; message: string; errors: { code: string; location: { file: string } }[] };
    expect(doc).toMatchObject({ code: 'internal_error', message: 'error(s) occurred while evaluating query' });
    // OPA's text is "complete rules must not produce multiple outputs" at the first rule; the compiled
    // module names the conflict in its own words, so only the code and file are compared.
    expect(doc.errors[0]).toMatchObject({ code: 'eval_conflict_error' });
    expect(doc.errors[0]!.location.file).toMatch(/policy\.rego$/);
  });
});

describe('POST /v1/data', () => {
  it('takes the input from {"input": ...}', async () => {
    expect(await post('/v1/data/envoy/authz/allow', '{"input":{"user":"alice"}}')).toMatchObject({ status: 200, body: '{"result":true}\n' });
    expect((await post('/v1/data/envoy/authz/greeting', '{"input":{"user":"bob"}}')).body).toBe('{"result":"hello bob"}\n');
  });

  it('warns when the body has no input key (a bare document, an empty body, null)', async () => {
    const warned = '{"result":false,"warning":{"code":"api_usage_warning","message":"\'input\' key missing from the request"}}\n';
    expect((await post('/v1/data/envoy/authz/allow', '{"user":"alice"}')).body).toBe(warned);
    expect((await post('/v1/data/envoy/authz/allow', '')).body).toBe(warned);
    expect((await post('/v1/data/envoy/authz/allow', 'null')).body).toBe(warned);
    expect((await post('/v1/data/envoy/authz/allow', '{"input":null}')).body).toBe(warned);
  });

  it('reads the first JSON value and ignores text after it, as Go\'s json.Decoder', async () => {
    expect((await post('/v1/data/envoy/authz/allow', '{"input":{"user":"alice"}}   {')).body).toBe('{"result":true}\n');
  });

  it('rejects a truncated body ({"input":) with 400', async () => {
    expect(JSON.parse((await post('/v1/data/envoy/authz/allow', '{"input":')).body)).toEqual({
      code: 'invalid_parameter',
      message: 'body contains malformed input document: unexpected EOF',
    });
  });

  it('rejects a body that is not an object ([1], "str", true, 12) with 400', async () => {
    for (const [body, kind] of [['[1]', 'array'], ['"str"', 'string'], ['true', 'bool'], ['12', 'number']]) {
      const res = await post('/v1/data/envoy/authz/allow', body!);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).message).toBe(`body contains malformed input document: json: cannot unmarshal ${kind} into Go value of type types.alias`);
    }
  });

  it('reads YAML bodies when the Content-Type says yaml', async () => {
    expect((await post('/v1/data/envoy/authz/allow', 'input: {user: alice}', { 'Content-Type': 'application/x-yaml' })).body).toBe('{"result":true}\n');
  });

  it('inflates gzip bodies', async () => {
    const res = await call('/v1/data/envoy/authz/allow', {
      method: 'POST',
      body: gzipSync('{"input":{"user":"alice"}}'),
      headers: { 'Content-Encoding': 'gzip' },
    });
    expect(res.body).toBe('{"result":true}\n');
  });

  it('rejects a truncated gzip body with 400', async () => {
    const cut = gzipSync('{"input":{"user":"alice"}}').subarray(0, 10);
    const res = await call('/v1/data/envoy/authz/allow', { method: 'POST', body: cut, headers: { 'Content-Encoding': 'gzip' } });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ code: 'invalid_parameter', message: 'could not decompress the body: unexpected EOF' });
  });

  it('rejects a body that is not gzip at all under Content-Encoding: gzip with 400', async () => {
    // OPA 1.19.1 panics on this one (empty reply); the agent answers with Go's gzip error text.
    const res = await call('/v1/data/envoy/authz/allow', { method: 'POST', body: 'notgzip', headers: { 'Content-Encoding': 'gzip' } });
    expect(JSON.parse(res.body)).toEqual({ code: 'invalid_parameter', message: 'could not decompress the body: gzip: invalid header' });
  });

  it('refuses a body announced larger than server.decoding.max_length', async () => {
    const res = await post('/v1/data/envoy/authz/allow', JSON.stringify({ input: { pad: 'x'.repeat(5000) } }));
    expect(res.status).toBe(400);
    expect(res.body).toBe('{\n  "code": "invalid_parameter",\n  "message": "request body too large"\n}\n');
  });

  it('marks data answers as varying by Accept-Encoding', async () => {
    expect((await post('/v1/data/envoy/authz/allow', '{}')).headers.get('vary')).toBe('Accept-Encoding');
    expect((await call('/v1/policies')).headers.get('vary')).toBeNull();
  });
});

describe('decision logs', () => {
  it('gives every answer a decision_id and logs the decision under it', async () => {
    decisions.length = 0;
    const res = await post('/v1/data/envoy/authz/allow', '{"input":{"user":"alice"}}', {}, loggedBase);
    const doc = JSON.parse(res.body) as { decision_id: string; result: boolean };
    expect(res.body.startsWith('{"decision_id":"')).toBe(true);
    expect(doc.decision_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ decisionId: doc.decision_id, path: 'envoy/authz/allow', input: { user: 'alice' }, result: true });
    expect(decisions[0]!.remoteAddr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Object.keys(decisions[0]!.metrics)).toContain('timer_rego_query_eval_ns');
  });

  it('logs an undefined v0 document with its error', async () => {
    decisions.length = 0;
    await post('/v0/data/envoy/authz/greeting', '{}', {}, loggedBase);
    expect(decisions[0]).toMatchObject({ path: 'envoy/authz/greeting', input: {}, result: undefined, error: { code: 'undefined_document' } });
  });

  it('fails the request when the decision cannot be logged', async () => {
    decisionLogFails = true;
    try {
      const res = await call('/v1/data/envoy/authz/allow', {}, loggedBase);
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body)).toEqual({ code: 'internal_error', message: 'decision_logs: buffer full' });
    } finally {
      decisionLogFails = false;
    }
  });
});

describe('POST /v0/data and POST /', () => {
  it('takes the whole body as input and answers the bare document', async () => {
    expect(await post('/v0/data/envoy/authz/allow', '{"user":"alice"}')).toMatchObject({ status: 200, type: 'application/json', body: 'true\n' });
    expect((await post('/v0/data/envoy/authz/greeting', '{"user":"bob"}')).body).toBe('"hello bob"\n');
    expect((await post('/v0/data/envoy/authz/allow', '')).body).toBe('false\n');
  });

  it('answers an undefined document with 404 undefined_document', async () => {
    const undefinedRule = await post('/v0/data/envoy/authz/greeting', '{}');
    expect(undefinedRule.status).toBe(404);
    expect(undefinedRule.body).toBe('{\n  "code": "undefined_document",\n  "message": "document undefined: data.envoy.authz.greeting"\n}\n');
    expect(JSON.parse((await post('/v0/data/nope/x', '{}')).body).message).toBe('document missing: data.nope.x');
  });

  it('prints the missing reference as Rego does (keywords, non-identifiers, numbers, backslashes)', async () => {
    // OPA: `document missing: data.q["a-b"][0]["if"]["\\x"]["1x"]`.
    const res = await post('/v0/data/q/a-b/0/if/%5Cx/1x', '{}');
    expect(JSON.parse(res.body).message).toBe('document missing: data.q["a-b"][0]["if"]["\\\\x"]["1x"]');
  });

  it('rejects a malformed body ({bad) with 400 and v0\'s prefix', async () => {
    expect(JSON.parse((await post('/v0/data/envoy/authz/allow', '{bad')).body)).toEqual({
      code: 'invalid_parameter',
      message: "unexpected parse error for input: body contains malformed input document: invalid character 'b' looking for beginning of object key string",
    });
  });

  it('answers POST / with the default decision', async () => {
    expect((await post('/', '{"user":"bob"}')).body).toBe('"hello bob"\n');
    expect(JSON.parse((await post('/', '{}')).body).message).toBe('document undefined: data.envoy.authz.greeting');
  });
});

describe('routing as OPA\'s server', () => {
  it('answers methods a data route does not serve with a bare 405', async () => {
    for (const [method, path] of [['GET', '/v0/data/envoy/authz/allow'], ['PUT', '/v0/data/x'], ['OPTIONS', '/v1/data/envoy/authz/allow'], ['DELETE', '/v1/data'], ['POST', '/v1/policies']]) {
      const res = await call(path!, { method });
      expect({ method, status: res.status, body: res.body, type: res.type }).toEqual({ method, status: 405, body: '', type: null });
    }
  });

  it('refuses HEAD on OPA\'s endpoints with 405', async () => {
    expect((await call('/v1/data/envoy/authz/allow', { method: 'HEAD' })).status).toBe(405);
    expect((await call('/health', { method: 'HEAD' })).status).toBe(405);
  });

  it('answers other wrong methods with net/http\'s 405 and Allow', async () => {
    const res = await call('/v1/config', { method: 'POST' });
    expect(res).toMatchObject({ status: 405, type: 'text/plain; charset=utf-8', body: 'Method Not Allowed\n' });
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers unknown paths with net/http\'s 404', async () => {
    expect(await call('/v1/nope')).toMatchObject({ status: 404, type: 'text/plain; charset=utf-8', body: '404 page not found\n' });
  });

  it('redirects a trailing slash (301, query dropped) and unclean paths (307, query kept)', async () => {
    const slash = await call('/v1/data/?pretty');
    expect(slash).toMatchObject({ status: 301, body: '<a href="/v1/data">Moved Permanently</a>.\n\n' });
    expect(slash.headers.get('location')).toBe('/v1/data');
    const unclean = await call('/v1/data//envoy/./authz/allow?pretty');
    expect(unclean.status).toBe(307);
    expect(unclean.headers.get('location')).toBe('/v1/data/envoy/authz/allow?pretty');
  });

  it('answers what OPA serves but this agent does not with 501 not_implemented', async () => {
    // The agent's own choice: writes, ad-hoc queries and compile are not served.
    for (const [method, path] of [['PUT', '/v1/data/x'], ['PATCH', '/v1/data'], ['DELETE', '/v1/data/x'], ['PUT', '/v1/policies/x'], ['DELETE', '/v1/policies/x'], ['GET', '/v1/query?q=x'], ['POST', '/v1/compile']]) {
      const res = await call(path!, { method, ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }) });
      expect({ path, status: res.status, code: (JSON.parse(res.body) as { code: string }).code }).toEqual({ path, status: 501, code: 'not_implemented' });
    }
  });
});

describe('GET /v1/policies and /v1/config', () => {
  it('lists the policies and gets one by id (ast left out)', async () => {
    expect(JSON.parse((await call('/v1/policies')).body)).toEqual({ result: [{ id: 'policy.rego', raw: POLICY }] });
    expect(JSON.parse((await call('/v1/policies/policy.rego')).body)).toEqual({ result: { id: 'policy.rego', raw: POLICY } });
  });

  it('answers an unknown policy id with 404 resource_not_found', async () => {
    const res = await call('/v1/policies/no%20pe');
    expect(res.status).toBe(404);
    expect(res.body).toBe('{\n  "code": "resource_not_found",\n  "message": "storage_not_found_error: policy id \\"no pe\\""\n}\n');
  });

  it('serves the configuration without service credentials and private keys', async () => {
    // OPA also adds default_decision, default_authorization_decision and labels.id/version; those
    // come from the configuration the agent hands over, not from this endpoint.
    expect((await call('/v1/config')).body).toBe(
      '{"result":{"decision_logs":{"console":true},"keys":{"k1":{"algorithm":"RS256","scope":"read"}},"labels":{"app":"demo"},"services":{"acme":{"url":"http://127.0.0.1:1"},"other":{"url":"http://127.0.0.1:2"}}}}\n',
    );
    expect(CONFIG.services.acme.credentials).toBeDefined();
  });

  it('redacts services given as a list, and refuses keys that are not a map ([]) as OPA does', () => {
    expect(redactConfig({ services: [{ name: 'a', credentials: { x: 1 } }] })).toEqual({ services: [{ name: 'a' }] });
    expect(() => redactConfig({ keys: [] })).toThrow('illegal keys config type: []interface {}');
    expect(() => redactConfig({ services: 'x' })).toThrow('illegal service config type: string');
  });
});

describe('health', () => {
  it('answers /health with 200 {} while plugins are up', async () => {
    expect(await call('/health')).toMatchObject({ status: 200, type: 'application/json', body: '{}\n' });
  });

  it('fails ?plugins while a plugin is not OK, unless it is excluded', async () => {
    state.plugins = { decision_logs: 'OK', envoy_ext_authz_grpc: 'NOT_READY' };
    try {
      expect(await call('/health')).toMatchObject({ status: 200, body: '{}\n' });
      expect(await call('/health?plugins')).toMatchObject({ status: 500, body: '{"error":"one or more plugins are not up"}\n' });
      expect((await call('/health?plugins&exclude-plugin=envoy_ext_authz_grpc')).status).toBe(200);
    } finally {
      state.plugins = { decision_logs: 'OK' };
    }
  });

  it('fails ?bundles while the bundle plugin has not activated', async () => {
    state.plugins = { bundle: 'NOT_READY' };
    try {
      expect(await call('/health?bundles')).toMatchObject({ status: 500, body: '{"error":"one or more bundles are not activated"}\n' });
    } finally {
      state.plugins = { decision_logs: 'OK' };
    }
  });

  it('answers /health/live and /health/ready from the agent\'s lifecycle', async () => {
    // The agent's own probes (OPA would evaluate data.system.health.live/ready).
    expect(await call('/health/ready')).toMatchObject({ status: 200, body: '{}\n' });
    state.ready = { ok: false, error: 'no policy loaded' };
    try {
      expect(await call('/health/ready')).toMatchObject({ status: 500, body: '{"error":"no policy loaded"}\n' });
      expect((await call('/health/live')).status).toBe(200);
    } finally {
      state.ready = { ok: true };
    }
  });

  it('answers other /health/{path} from data.system.health', async () => {
    expect(await call('/health/custom')).toMatchObject({ status: 200, body: '{}\n' });
    expect(await call('/health/other')).toMatchObject({ status: 500, body: '{"error":"health check (data.system.health.other) was undefined"}\n' });
  });
});

describe('metrics', () => {
  it('serves the registry and times requests by code, handler and lowercase method, as OPA', async () => {
    await call('/v1/data/envoy/authz/allow');
    await post('/v1/data/nope', '{');
    await call('/v0/data/x');
    await call('/health');
    const res = await call('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('# HELP http_request_duration_seconds A histogram of duration for requests.');
    expect(res.body).toMatch(/http_request_duration_seconds_count\{code="200",handler="v1\/data",method="get"\} [1-9]/);
    expect(res.body).toMatch(/http_request_duration_seconds_count\{code="400",handler="v1\/data",method="post"\} [1-9]/);
    expect(res.body).toMatch(/http_request_duration_seconds_count\{code="405",handler="catchall",method="get"\} [1-9]/);
    expect(res.body).toMatch(/http_request_duration_seconds_count\{code="200",handler="health",method="get"\} [1-9]/);
    // OPA's buckets (1e-6 ... 1; prom-client writes the bounds in decimal where Go writes 1e-06).
    const bounds = [...res.body.matchAll(/http_request_duration_seconds_bucket\{le="([^"]+)",code="200",handler="v1\/data",method="get"\}/g)].map((m) => m[1]);
    expect(bounds).toEqual(['0.000001', '0.000005', '0.00001', '0.00005', '0.0001', '0.0005', '0.001', '0.01', '0.1', '1', '+Inf']);
    // /metrics itself is not timed.
    expect(res.body).not.toContain('handler="metrics"');
    expect(plainDeps.registry.getSingleMetric('http_request_cancellations')).toBeDefined();
  });
});
