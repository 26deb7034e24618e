// An agent whose OPA compiler is missing: Rego in an OPAPolicy is refused with a clear error (the write
// changes nothing), while a precompiled bundle in a Secret still works.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyClient, httpRequest, type EnvoyClient } from '../helpers/envoy-client.js';
import { buildBundle, startAgent, type AgentProcess } from '../helpers/tools.js';

const MISSING_COMPILER = '/nonexistent/bin/opa';
const TMP = mkdtempSync(join(tmpdir(), 'kmesh-opa-no-compiler-'));

/** A precompiled bundle (built here by the real opa) deciding every request `allow`. */
function bundleDeciding(allow: boolean): string {
  const file = join(TMP, `${String(allow)}.rego`);
  writeFileSync(file, `package envoy.authz\n\nallow := ${String(allow)}\n`);
  return buildBundle([file]);
}

async function put(agent: AgentProcess, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${agent.restUrl}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

function opaPolicy(policies: unknown[]): Record<string, unknown> {
  return { type: 'OPAPolicy', mesh: 'default', name: 'opa-1', selectors: [{ match: { 'kuma.io/service': '*' } }], conf: { policies } };
}

describe('without the OPA compiler', () => {
  let agent: AgentProcess;
  let client: EnvoyClient;

  beforeAll(async () => {
    // The boot policy must itself be precompiled: allow-all, so that a denying OPAPolicy is visible.
    agent = await startAgent(['--policy', bundleDeciding(true), '--compiler', MISSING_COMPILER]);
    client = envoyClient(agent.address);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop();
  });

  it('bad input: an OPAPolicy with inline Rego is refused naming the missing compiler, and nothing changes', async () => {
    const res = await put(agent, '/meshes/default/opapolicies/opa-1', opaPolicy([{ inlineString: 'package envoy.authz\n\nallow := false\n' }]));
    expect(res.status).toBe(400);
    expect(String(res.body.detail)).toContain(`the OPA compiler was not found at ${MISSING_COMPILER}`);
    expect((await fetch(`${agent.restUrl}/meshes/default/opapolicies/opa-1`)).status).toBe(404);
    expect((await client.check(httpRequest({ method: 'GET', path: '/' }))).status?.code ?? 0).toBe(0);
  });

  it('a Secret holding a bundle built by opa build -t wasm still works', async () => {
    const secret = await put(agent, '/meshes/default/secrets/prebuilt', { type: 'Secret', mesh: 'default', name: 'prebuilt', data: readFileSync(bundleDeciding(false)).toString('base64') });
    expect(secret.status).toBe(201);
    const res = await put(agent, '/meshes/default/opapolicies/opa-1', opaPolicy([{ secret: 'prebuilt' }]));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const status = (await (await fetch(`${agent.restUrl}/v1/status`)).json()) as { result: { policy: { layer: string; origin: string } } };
    expect(status.result.policy).toMatchObject({ layer: 'resource', origin: 'OPAPolicy default/opa-1' });
    expect((await client.check(httpRequest({ method: 'GET', path: '/' }))).status?.code).toBe(7);
  });
});
