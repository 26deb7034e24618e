// README's examples are run as written (only the port is swapped for a free one), so they stay true.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startAgent, type AgentProcess } from '../helpers/tools.js';

function readmeBlockAfter(marker: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(marker);
  expect(at, `README has "${marker}"`).toBeGreaterThan(-1);
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(m, `a sh block follows "${marker}"`).not.toBeNull();
  return m![1]!;
}

describe('README examples', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgent([]); // the embedded default policy, as `npm start` runs it
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it('the grpcurl calls get an allow with ADMIN_TOKEN and a deny without it', () => {
    const script = readmeBlockAfter('Ask it with `grpcurl`').replaceAll('localhost:9191', agent.address);
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, encoding: 'utf8' });
    const replies = out.split(/\n(?=\{)/).map((j) => JSON.parse(j) as { status: { code?: number } });
    expect(replies).toHaveLength(2);
    expect(replies[0]!.status.code ?? 0).toBe(0);
    expect(replies[1]!.status.code).toBe(7);
  });
});

describe('README: an OPAPolicy through the API', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgent([]);
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it('PUT answers 201 and /v1/status names the policy and its layer', () => {
    const script = readmeBlockAfter('a deny-all\nOPAPolicy through the API').replaceAll('http://localhost:8181', agent.restUrl);
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, encoding: 'utf8' });
    expect(out.trim().split('\n')).toEqual(['201', '{"policy":"deny-all","layer":"resource"}']);
  });
});

describe('README: the RBAC walk-through', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgent(['--api-authn-localhost-is-admin=false']);
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it('backend-owner applies an OPAPolicy for backend and is refused one for other, with the seed text', async () => {
    const script = readmeBlockAfter('The seed walk-through, with `kmesh-opa`').replaceAll('http://localhost:8181', agent.restUrl);
    // No -e: the last command is meant to fail; its exit status is the script's.
    const run = spawnSync('bash', ['-uo', 'pipefail', '-c', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, KMESH_OPA_CTL_CONFIG: join(mkdtempSync(join(tmpdir(), 'kmesh-opa-ctl-')), 'config.yaml') },
    });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toContain('Error: Access Denied (user "backend-owner/mesh-system:authenticated" cannot access the resource)');
    expect((await fetch(`${agent.restUrl}/meshes/default/opapolicies/backend-only`)).status).toBe(200);
    expect((await fetch(`${agent.restUrl}/meshes/default/opapolicies/other-service`)).status).toBe(404);
    const binding = (await (await fetch(`${agent.restUrl}/access-role-bindings/default`)).json()) as { subjects: unknown[] };
    expect(binding.subjects).toEqual([{ type: 'Group', name: 'mesh-system:admin' }]);
  }, 60_000);
});
