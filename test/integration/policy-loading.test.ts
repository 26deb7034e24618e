// Every way a policy reaches the agent, proved by checks over gRPC: .rego in both Rego versions,
// --path and --query, bundles from `opa build -t wasm` (also repacked without leading slashes), a bare
// .wasm with --data; and a policy calling a builtin kmesh-opa lacks, refused at start.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envoyClient, httpRequest, type EnvoyClient } from '../helpers/envoy-client.js';
import { buildBundle, POLICIES, ROOT, runCli, startAgent, type AgentProcess } from '../helpers/tools.js';

const CACHE_ENV = { KMESH_OPA_CACHE_DIR: join(ROOT, '.cache', 'test-compile') };

const running: { agent: AgentProcess; client: EnvoyClient }[] = [];

async function serve(args: string[]): Promise<{ agent: AgentProcess; client: EnvoyClient }> {
  const agent = await startAgent(args);
  const entry = { agent, client: envoyClient(agent.address) };
  running.push(entry);
  return entry;
}

afterEach(async () => {
  for (const { agent, client } of running.splice(0)) {
    client.close();
    await agent.stop();
  }
});

/** GET is allowed and POST denied by every policy here. */
async function expectGetOnly(client: EnvoyClient): Promise<void> {
  const get = await client.check(httpRequest({ method: 'GET', path: '/' }));
  expect(get.status?.code ?? 0).toBe(0);
  const post = await client.check(httpRequest({ method: 'POST', path: '/' }));
  expect(post.status?.code).toBe(7);
}

function activationLog(agent: AgentProcess): Record<string, unknown> {
  const line = agent.stderr().split('\n').find((l) => l.includes('"msg":"policy activated"'));
  if (!line) throw new Error(`no activation log in:\n${agent.stderr()}`);
  return JSON.parse(line) as Record<string, unknown>;
}

function unpack(bundle: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-unpacked-'));
  execFileSync('tar', ['-xzf', bundle, '-C', dir]);
  return dir;
}

describe('policy loading', () => {
  it('a Rego v0 policy loads from .rego with its version detected, and the log says v0', async () => {
    const { agent, client } = await serve([join(POLICIES, 'rego-v0.rego')]);
    expect(activationLog(agent)).toMatchObject({ rego_version: 'v0' });
    await expectGetOnly(client);
  });

  it('a Rego v1 policy loads from .rego, and the log says v1', async () => {
    const { agent, client } = await serve([join(POLICIES, 'rego-v1.rego')]);
    expect(activationLog(agent)).toMatchObject({ rego_version: 'v1' });
    await expectGetOnly(client);
  });

  it('--query data.envoy.authz.allow', async () => {
    const { client } = await serve([join(POLICIES, 'rego-v1.rego'), '--query', 'data.envoy.authz.allow']);
    await expectGetOnly(client);
  });

  it('--path envoy/authz/allow', async () => {
    const { client } = await serve([join(POLICIES, 'rego-v1.rego'), '--path', 'envoy/authz/allow']);
    await expectGetOnly(client);
  });

  for (const flags of [
    ['--path', 'kmesh/test/decision'],
    ['--query', 'data.kmesh.test.decision'],
  ]) {
    it(`${flags.join(' ')} decides with a rule outside envoy/authz`, async () => {
      const { agent, client } = await serve([join(POLICIES, 'custom-path.rego'), ...flags]);
      expect(activationLog(agent)).toMatchObject({ entrypoint: 'kmesh/test/decision' });
      const res = await client.check(httpRequest({ method: 'GET', path: '/' }));
      expect(res.ok_response?.headers).toEqual([{ header: { key: 'x-decided-by', value: 'kmesh.test.decision' } }]);
      await expectGetOnly(client);
    });
  }

  it('a bundle built by opa build -t wasm loads', async () => {
    const { client } = await serve([buildBundle(['rego-v1.rego'])]);
    await expectGetOnly(client);
  });

  it('a bundle whose entries have no leading "/" (repacked with tar: policy.wasm, not /policy.wasm) loads', async () => {
    const dir = unpack(buildBundle(['rego-v1.rego']));
    const entries = readdirSync(dir);
    expect(entries).toContain('policy.wasm');
    const repacked = join(dir, 'repacked.tar.gz');
    execFileSync('tar', ['-czf', repacked, '-C', dir, ...entries]);
    const names = execFileSync('tar', ['-tzf', repacked], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toContain('policy.wasm');
    expect(names.every((n) => !n.startsWith('/'))).toBe(true);
    const { client } = await serve([repacked]);
    await expectGetOnly(client);
  });

  it('a bare .wasm loads with --data, and the policy reads that data', async () => {
    const dir = unpack(buildBundle(['data-driven.rego']));
    const dataDir = join(dir, 'given');
    mkdirSync(dataDir);
    const dataPath = join(dataDir, 'data.json');
    writeFileSync(dataPath, JSON.stringify({ config: { methods: ['GET'], tenant: 'acme' } }));
    const { client } = await serve([join(dir, 'policy.wasm'), '--data', dataPath]);
    const res = await client.check(httpRequest({ method: 'GET', path: '/' }));
    expect(res.ok_response?.headers).toEqual([{ header: { key: 'x-tenant', value: 'acme' } }]);
    await expectGetOnly(client);
  });

  for (const [file, builtin] of [
    ['unsupported-http-send.rego', 'http.send'],
    ['unsupported-net-lookup.rego', 'net.lookup_ip_addr'],
  ] as const) {
    it(`a policy calling ${builtin} (a builtin kmesh-opa lacks) is refused at start with one line naming it`, async () => {
      const { code, stderr } = await runCli(['run', '--opa-ext-authz-addr', '127.0.0.1:0', join(POLICIES, file)], CACHE_ENV);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      const lines = stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(builtin);
    });
  }
});
