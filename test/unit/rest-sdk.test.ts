// Compatibility with a client written by others: Styra's @styra/opa TypeScript SDK talks to the REST API
// as it talks to OPA. Each expectation below is what the same SDK calls return against OPA 1.19.1
// serving the same policy (checked by pointing this file's calls at `opa run --server`).
import { OPAClient } from '@styra/opa';
import { OpaApiClient } from '@styra/opa/sdk/sdk.js';
import { SDKValidationError, ServerError } from '@styra/opa/sdk/models/errors';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyBytes } from '../../src/engine/load.js';
import { createLogger } from '../../src/log.js';
import type { ApiDeps, PluginState } from '../../src/server/api.js';
import { listenHttp, type HttpListener } from '../../src/server/http.js';
import { createRestHandler } from '../../src/server/rest.js';
import { buildBundle } from '../helpers/tools.js';

const POLICY = `package envoy.authz

default allow := false

allow if input.user == "alice"

greeting := sprintf("hello %s", [input.user]) if input.user

conflict := 1 if input.a

conflict := 2 if input.b
`;

let listener: HttpListener;
let url: string;
let plugins: Record<string, PluginState> = { envoy_ext_authz_grpc: 'OK' };

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-sdk-'));
  writeFileSync(join(dir, 'policy.rego'), POLICY);
  const bundle = buildBundle([join(dir, 'policy.rego')], ['envoy/authz/allow', 'envoy/authz']);
  const active = loadPolicyBytes(readFileSync(bundle), { decision: 'envoy/authz/allow', maxMemoryPages: 2048, regoVersion: 'auto', compiler: undefined, cacheDir: dir }, bundle);
  const deps: ApiDeps = {
    evaluate: (path, input) => active.policy.evaluatePath(path, input),
    policies: () => [{ id: 'policy.rego', raw: POLICY }],
    config: () => ({}),
    plugins: () => plugins,
    live: () => ({ ok: true }),
    ready: () => ({ ok: true }),
    registry: new Registry(),
    defaultDecision: '/envoy/authz/greeting',
    decisionLog: () => undefined,
    log: createLogger('error', { write: () => true }),
  };
  listener = await listenHttp('127.0.0.1:0', createRestHandler(deps), deps.log, 'REST API');
  url = `http://127.0.0.1:${listener.port}`;
});

afterAll(async () => {
  await listener?.close(1000);
});

describe('@styra/opa against the REST API', () => {
  it('evaluates a decision with and without input', async () => {
    const opa = new OPAClient(url);
    expect(await opa.evaluate('envoy/authz/allow', { user: 'alice' })).toBe(true);
    expect(await opa.evaluate('envoy/authz/allow', { user: 'bob' })).toBe(false);
    expect(await opa.evaluate('envoy/authz/allow')).toBe(false);
    expect(await opa.evaluate('envoy/authz/greeting', { user: 'bob' })).toBe('hello bob');
  });

  it('returns undefined for an undefined document', async () => {
    expect(await new OPAClient(url).evaluate('envoy/authz/greeting', {})).toBeUndefined();
  });

  it('evaluates the default decision (POST /)', async () => {
    expect(await new OPAClient(url).evaluateDefault({ user: 'bob' })).toBe('hello bob');
  });

  it('surfaces an evaluation error as the SDK\'s ServerError', async () => {
    const err = await new OPAClient(url).evaluate('envoy/authz/conflict', { a: true, b: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).code).toBe('internal_error');
    expect((err as ServerError).message).toBe('error(s) occurred while evaluating query');
    expect((err as ServerError).errors?.[0]?.code).toBe('eval_conflict_error');
  });

  it('falls back from the batch API (404, as open-source OPA) to one evaluation per input', async () => {
    const results = await new OPAClient(url).evaluateBatch('envoy/authz/allow', { a: { user: 'alice' }, b: { user: 'bob' } }, { fallback: true });
    expect(results).toEqual({ a: true, b: false });
  });

  it('reads health, including the plugin check', async () => {
    const api = new OpaApiClient({ serverURL: url });
    expect((await api.health()).healthyServer).toEqual({});
    plugins = { envoy_ext_authz_grpc: 'NOT_READY' };
    try {
      // OPA answers 500 {"error": ...}; the SDK's schema for that answer wants a `code` it never
      // has, so against OPA too the SDK throws a validation error carrying OPA's document.
      const err = await api.health(undefined, true).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SDKValidationError);
      expect((err as SDKValidationError).rawValue).toMatchObject({ error: 'one or more plugins are not up' });
      expect((await api.health(undefined, true, ['envoy_ext_authz_grpc'])).healthyServer).toEqual({});
    } finally {
      plugins = { envoy_ext_authz_grpc: 'OK' };
    }
  });
});
