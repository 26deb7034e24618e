// The diagnostics listener: OPA's --diagnostic-addr answers (recorded from OPA 1.19.1 with curl) for
// health and metrics, and nothing else: policy, data and configuration stay on the REST port.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyBytes } from '../../src/engine/load.js';
import { createLogger } from '../../src/log.js';
import type { ApiDeps, Probe } from '../../src/server/api.js';
import { createDiagnosticsHandler } from '../../src/server/diagnostics.js';
import { listenHttp, type HttpListener } from '../../src/server/http.js';
import { createRestHandler } from '../../src/server/rest.js';
import { buildBundle } from '../helpers/tools.js';

let ready: Probe = { ok: true };
let deps: ApiDeps;
let diagnostics: HttpListener;
let rest: HttpListener;
let base: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-diag-'));
  writeFileSync(join(dir, 'policy.rego'), 'package envoy.authz\n\ndefault allow := false\n');
  const bundle = buildBundle([join(dir, 'policy.rego')], ['envoy/authz/allow']);
  const active = loadPolicyBytes(readFileSync(bundle), { decision: 'envoy/authz/allow', maxMemoryPages: 2048, regoVersion: 'auto', compiler: undefined, cacheDir: dir }, bundle);
  deps = {
    evaluate: (path, input) => active.policy.evaluatePath(path, input),
    policies: () => [{ id: 'policy.rego', raw: 'package envoy.authz' }],
    config: () => ({ services: { s: { url: 'http://127.0.0.1:1', credentials: { bearer: { token: 'secret' } } } } }),
    plugins: () => ({ envoy_ext_authz_grpc: 'OK' }),
    live: () => ({ ok: true }),
    ready: () => ready,
    registry: new Registry(),
    log: createLogger('error', { write: () => true }),
  };
  // Both listeners on one registry, as in the agent: they share the request histogram.
  diagnostics = await listenHttp('127.0.0.1:0', createDiagnosticsHandler(deps), deps.log, 'diagnostics');
  rest = await listenHttp('127.0.0.1:0', createRestHandler(deps), deps.log, 'REST API');
  base = `http://127.0.0.1:${diagnostics.port}`;
});

afterAll(async () => {
  await diagnostics?.close(1000);
  await rest?.close(1000);
});

async function call(path: string, init: RequestInit = {}): Promise<{ status: number; type: string | null; body: string; headers: Headers }> {
  const res = await fetch(base + path, { redirect: 'manual', ...init });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text(), headers: res.headers };
}

describe('diagnostics listener', () => {
  it('answers /health, /health/live and /health/ready', async () => {
    expect(await call('/health')).toMatchObject({ status: 200, type: 'application/json', body: '{}\n' });
    expect(await call('/health/live')).toMatchObject({ status: 200, body: '{}\n' });
    expect(await call('/health/ready')).toMatchObject({ status: 200, body: '{}\n' });
  });

  it('reports a failing readiness probe as 500 {"error": ...}', async () => {
    ready = { ok: false, error: 'shutting down' };
    try {
      expect(await call('/health/ready')).toMatchObject({ status: 500, type: 'application/json', body: '{"error":"shutting down"}\n' });
    } finally {
      ready = { ok: true };
    }
  });

  it('serves the metrics of both listeners, timed under OPA\'s "health" handler label', async () => {
    await call('/health');
    await fetch(`http://127.0.0.1:${rest.port}/v1/data/envoy/authz/allow`);
    const res = await call('/metrics');
    expect(res).toMatchObject({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8' });
    expect(res.body).toMatch(/http_request_duration_seconds_count\{code="200",handler="health",method="get"\} [1-9]/);
    expect(res.body).toMatch(/http_request_duration_seconds_count\{code="200",handler="v1\/data",method="get"\} 1\n/);
  });

  it('answers every other path with 404, data and config included', async () => {
    for (const path of ['/v1/data', '/v1/data/envoy/authz/allow', '/v1/policies', '/v1/config', '/metrics/alloc_bytes', '/', '/nope']) {
      const res = await call(path);
      expect({ path, status: res.status, type: res.type, body: res.body }).toEqual({ path, status: 404, type: 'text/plain; charset=utf-8', body: '404 page not found\n' });
    }
    expect((await call('/v0/data/envoy/authz/allow', { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('answers a write to a health path (POST /health) with 405 and Allow: GET, HEAD', async () => {
    const res = await call('/health', { method: 'POST' });
    expect(res).toMatchObject({ status: 405, type: 'text/plain; charset=utf-8', body: 'Method Not Allowed\n' });
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});
