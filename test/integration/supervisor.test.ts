// kmesh-opa as the child of a supervisor (kuma-dp): the example supervisor, readiness on a descriptor,
// exit with a parent killed outright, and SIGHUP reloads that drop no check.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envoyClient, httpRequest, type EnvoyClient } from '../helpers/envoy-client.js';
import { ROOT, runCli, startAgent, type AgentProcess } from '../helpers/tools.js';

const SUPERVISOR = join(ROOT, 'examples', 'supervisor.mjs');
const CACHE_ENV = { KMESH_OPA_CACHE_DIR: join(ROOT, '.cache', 'test-compile') };
const PERMISSION_DENIED = 7;

interface Supervisor {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the first JSON line on stdout whose step is `step`. */
  step(step: string): Promise<Record<string, unknown>>;
  stderr(): string;
  exit: Promise<number | null>;
}

function startSupervisor(args: string[] = []): Supervisor {
  const child = spawn(process.execPath, [SUPERVISOR, ...args], { env: { ...process.env, ...CACHE_ENV }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { step: string; resolve(line: Record<string, unknown>): void }[] = [];
  const lines: Record<string, unknown>[] = [];
  const deliver = () => {
    for (const w of [...waiters]) {
      const line = lines.find((l) => l.step === w.step);
      if (line) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const parts = out.split('\n');
    out = parts.pop()!;
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Record<string, unknown>);
    deliver();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    step: (step) =>
      new Promise((resolve, reject) => {
        waiters.push({ step, resolve });
        deliver();
        void exit.then(() => setTimeout(() => reject(new Error(`supervisor exited before "${step}":\n${err}`)), 100));
      }),
    stderr: () => err,
    exit,
  };
}

/** Gone, or a zombie nobody has reaped yet: either way it runs no more and holds no port. */
function hasExited(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true;
  try {
    return /^\d+ \(.*\) [ZX]/.test(readFileSync(stat, 'utf8'));
  } catch {
    return true;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const orphans: number[] = [];
afterEach(() => {
  for (const pid of orphans.splice(0)) if (!hasExited(pid)) process.kill(pid, 'SIGKILL');
});

describe('the example supervisor (examples/supervisor.mjs)', () => {
  it('starts the agent as kuma-dp would, waits on --ready-fd, gets an allow and a deny, stops it with exit 0', async () => {
    const sup = startSupervisor();
    const ready = await sup.step('ready');
    expect(ready.ports).toEqual({ grpc: expect.any(Number), rest: expect.any(Number), diagnostics: expect.any(Number) });
    // The default policy (the Kong Mesh JWT example): the admin token is allowed, no token is denied.
    expect(await sup.step('checked')).toEqual({ step: 'checked', allowed: 0, denied: PERMISSION_DENIED });
    expect(await sup.step('stopped')).toEqual({ step: 'stopped', code: 0, signal: null });
    expect(await sup.exit).toBe(0);
    // The identity kuma-dp exported is the agent's: in its ready line.
    const readyLog = sup.stderr().split('\n').find((l) => l.includes('"msg":"ready"'))!;
    expect(JSON.parse(readyLog)).toMatchObject({ dataplane: { mesh: 'default', name: 'backend-01' }, ports: ready.ports });
  });

  it('killed with SIGKILL, its agent notices within 2 s, shuts down and frees its ports', async () => {
    const sup = startSupervisor(['--hold']);
    const ready = await sup.step('ready');
    const pid = ready.agent_pid as number;
    orphans.push(pid);
    await sup.step('checked');
    const killedAt = Date.now();
    sup.child.kill('SIGKILL');
    // The agent writes to the stderr it shares with the dead supervisor, which this test still reads.
    await expect.poll(() => sup.stderr(), { timeout: 5000, interval: 50 }).toContain('parent process exited; shutting down');
    expect(Date.now() - killedAt).toBeLessThan(2000);
    await expect.poll(() => hasExited(pid), { timeout: 10_000, interval: 100 }).toBe(true);
    for (const port of Object.values(ready.ports as Record<string, number>)) expect(await portIsFree(port), `port ${port}`).toBe(true);
  });

  it('bad input: --ready-fd naming a descriptor that is not open gives one line and exit 1', async () => {
    const res = await runCli(['run', '--ready-fd', '1000', '--opa-ext-authz-addr', '127.0.0.1:0']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe('kmesh-opa: invalid value "1000" for ready-fd from flag --ready-fd; allowed: the number of an open file descriptor (1 or more)');
  });
});

describe('SIGHUP', () => {
  let agent: AgentProcess | undefined;
  let client: EnvoyClient | undefined;
  afterEach(async () => {
    client?.close();
    await agent?.stop();
    agent = client = undefined;
  });

  const allowOnly = (method: string) => `package envoy.authz\n\ndefault allow := false\n\nallow if input.attributes.request.http.method == "${method}"\n`;
  const code = async (c: EnvoyClient, method: string) => (await c.check(httpRequest({ method, path: '/' }))).status?.code ?? 0;
  const reloads = (a: AgentProcess) => a.stderr().split('\n').filter((l) => l.includes('"msg":"reloaded"') || l.includes('"msg":"reload failed')).length;

  it('swaps in the edited policy file while checks keep flowing: none fails, none is dropped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-hup-'));
    const policy = join(dir, 'policy.rego');
    writeFileSync(policy, allowOnly('GET'));
    agent = await startAgent([policy], CACHE_ENV);
    const c = envoyClient(agent.address);
    client = c;
    expect(await code(c, 'GET')).toBe(0);

    const answers: number[] = [];
    const failures: unknown[] = [];
    let running = true;
    const worker = async () => {
      while (running) {
        try {
          answers.push(await code(c, 'GET'));
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const workers = [worker(), worker(), worker()];
    await expect.poll(() => answers.length).toBeGreaterThan(20);
    writeFileSync(policy, allowOnly('POST'));
    agent.child.kill('SIGHUP');
    await expect.poll(() => reloads(agent!), { timeout: 30_000 }).toBe(1);
    const atReload = answers.length;
    await expect.poll(() => answers.length).toBeGreaterThan(atReload + 20);
    running = false;
    await Promise.all(workers);

    expect(failures).toEqual([]);
    expect(agent.stderr()).toContain('"msg":"reloaded"');
    // GET was allowed up to the swap and denied after it, never anything else.
    const firstDenied = answers.indexOf(PERMISSION_DENIED);
    expect(firstDenied).toBeGreaterThan(0);
    expect(answers.slice(0, firstDenied).every((a) => a === 0)).toBe(true);
    expect(answers.slice(firstDenied).every((a) => a === PERMISSION_DENIED)).toBe(true);
    expect(await code(c, 'POST')).toBe(0);
    expect(agent.child.exitCode).toBeNull();
  });

  it('re-reads the config file: dry-run turned on lets a denied request through; a new section waits for a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-hup-'));
    const policy = join(dir, 'policy.rego');
    const config = join(dir, 'config.yaml');
    writeFileSync(policy, allowOnly('GET'));
    writeFileSync(config, 'plugins:\n  envoy_ext_authz_grpc:\n    dry-run: false\n');
    agent = await startAgent(['--opa-config-path', config, policy], CACHE_ENV);
    client = envoyClient(agent.address);
    expect(await code(client, 'POST')).toBe(PERMISSION_DENIED);

    writeFileSync(config, 'plugins:\n  envoy_ext_authz_grpc:\n    dry-run: true\nlabels:\n  team: payments\n');
    agent.child.kill('SIGHUP');
    await expect.poll(() => reloads(agent!), { timeout: 30_000 }).toBe(1);
    expect(await code(client, 'POST')).toBe(0);
    const warning = agent.stderr().split('\n').find((l) => l.includes('take effect on restart'))!;
    expect(JSON.parse(warning).settings).toEqual(['labels']);
  });

  it('bad input: a config file broken before SIGHUP fails the reload; the agent keeps its policy and settings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-hup-'));
    const policy = join(dir, 'policy.rego');
    const config = join(dir, 'config.yaml');
    writeFileSync(policy, allowOnly('GET'));
    writeFileSync(config, 'plugins:\n  envoy_ext_authz_grpc:\n    dry-run: false\n');
    agent = await startAgent(['--opa-config-path', config, policy], CACHE_ENV);
    client = envoyClient(agent.address);

    writeFileSync(config, 'plugins: [unclosed\n');
    writeFileSync(policy, allowOnly('POST'));
    agent.child.kill('SIGHUP');
    await expect.poll(() => reloads(agent!), { timeout: 30_000 }).toBe(1);
    expect(agent.stderr()).toContain('reload failed; the running configuration and policy stay');
    expect(await code(client, 'GET')).toBe(0);
    expect(await code(client, 'POST')).toBe(PERMISSION_DENIED);
    expect(agent.child.exitCode).toBeNull();
  });
});
