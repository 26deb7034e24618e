// kmesh-opa as a library in this very process: createAgent() with options, several agents side by side,
// every policy form, readiness, events, and an import without side effects.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAgent, PolicyLoadError, SettingsError, type AgentError, type AgentOptions, type Decision, type KmeshOpaAgent } from '../../src/index.js';
import { envoyClient, httpRequest, structToJson, type CheckResponseObject } from '../helpers/envoy-client.js';
import { buildBundle, opaBinary, POLICIES, ROOT } from '../helpers/tools.js';

const PERMISSION_DENIED = 7;
const quiet = { write: () => true };

/** Loopback on free ports, a silent log, the tests' compile cache and the project's opa. */
function options(extra: AgentOptions = {}): AgentOptions {
  return {
    extAuthzAddr: '127.0.0.1:0',
    opaAddr: '127.0.0.1:0',
    diagnosticAddr: '127.0.0.1:0',
    cacheDir: join(ROOT, '.cache', 'test-compile'),
    compiler: opaBinary(),
    logLevel: 'error',
    ...extra,
  };
}

const allowMethod = (method: string) => `package envoy.authz\n\ndefault allow := false\n\nallow if input.attributes.request.http.method == "${method}"\n`;

const agents: KmeshOpaAgent[] = [];
async function agent(extra: AgentOptions = {}): Promise<KmeshOpaAgent> {
  const a = await createAgent(options(extra));
  agents.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});

async function check(port: number, method: string, headers: Record<string, string> = {}): Promise<CheckResponseObject> {
  const client = envoyClient(`127.0.0.1:${port}`);
  try {
    return await client.check(httpRequest({ method, path: '/', headers }));
  } finally {
    client.close();
  }
}

async function metricValue(a: KmeshOpaAgent, name: string, labels: string): Promise<number> {
  const text = await a.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('two agents in one process', () => {
  it('serve on their own ports with their own policies, metrics and decision events', async () => {
    const getOnly = await agent();
    const postOnly = await agent();
    const seen = { get: [] as Decision[], post: [] as Decision[] };
    getOnly.on('decision', (d) => seen.get.push(d));
    postOnly.on('decision', (d) => seen.post.push(d));
    await getOnly.setPolicy({ rego: allowMethod('GET') });
    await postOnly.setPolicy({ rego: allowMethod('POST') });
    const a = await getOnly.start();
    const b = await postOnly.start();
    expect(new Set([a.grpc, a.rest, a.diagnostics, b.grpc, b.rest, b.diagnostics]).size).toBe(6);

    const aGet = await check(a.grpc, 'GET');
    expect(aGet.status?.code ?? 0).toBe(0);
    expect((await check(a.grpc, 'POST')).status?.code).toBe(PERMISSION_DENIED);
    expect((await check(b.grpc, 'GET')).status?.code).toBe(PERMISSION_DENIED);
    expect((await check(b.grpc, 'POST')).status?.code ?? 0).toBe(0);

    expect(seen.get.map((d) => [d.allowed, (d.input?.attributes as { request: { http: { method: string } } }).request.http.method])).toEqual([
      [true, 'GET'],
      [false, 'POST'],
    ]);
    expect(seen.post.map((d) => d.allowed)).toEqual([false, true]);
    expect(seen.get[0]!.decisionId).toBe(structToJson(aGet.dynamic_metadata).decision_id);
    expect(seen.get[0]!.version).toBe('v3');

    await check(a.grpc, 'GET');
    expect(await metricValue(getOnly, 'kmesh_opa_decisions_total', 'decision="allow"')).toBe(2);
    expect(await metricValue(getOnly, 'kmesh_opa_decisions_total', 'decision="deny"')).toBe(1);
    expect(await metricValue(postOnly, 'kmesh_opa_decisions_total', 'decision="allow"')).toBe(1);
    expect(await metricValue(postOnly, 'kmesh_opa_decisions_total', 'decision="deny"')).toBe(1);
    // What /metrics serves is that agent's registry.
    const served = await (await fetch(`http://127.0.0.1:${b.diagnostics}/metrics`)).text();
    expect(served).toMatch(/^kmesh_opa_decisions_total\{decision="allow"\} 1$/m);

    await getOnly.stop();
    expect(await refused(a.grpc)).toBe(true);
    expect((await check(b.grpc, 'POST')).status?.code ?? 0).toBe(0);
  });
});

describe('options: the settings by their option names, validated as flags and environment are', () => {
  it('bad input: statusOnError 99 is refused with the text a flag or variable gets, naming the option', async () => {
    const fromOption = await createAgent({ statusOnError: 99 }).catch((err: unknown) => err);
    expect(fromOption).toBeInstanceOf(SettingsError);
    expect((fromOption as Error).message).toBe('invalid value "99" for status-on-error from option statusOnError; allowed: an HTTP status code 100-599');
    const fromEnv = await createAgent({ env: { KMESH_OPA_STATUS_ON_ERROR: '99' } }).catch((err: unknown) => err);
    expect((fromEnv as Error).message).toBe('invalid value "99" for status-on-error from environment variable KMESH_OPA_STATUS_ON_ERROR; allowed: an HTTP status code 100-599');
    const fromFlag = await createAgent({ args: ['--status-on-error', '99'] }).catch((err: unknown) => err);
    expect((fromFlag as Error).message).toBe('invalid value "99" for status-on-error from flag --status-on-error; allowed: an HTTP status code 100-599');
  });

  it('bad input: an address without a port, a wrong type from JavaScript and an unknown option name', async () => {
    await expect(createAgent({ extAuthzAddr: 'localhost' })).rejects.toThrow('invalid value "localhost" for opa-ext-authz-addr from option extAuthzAddr; allowed: host:port or :port');
    await expect(createAgent({ dryRun: 'maybe' } as unknown as AgentOptions)).rejects.toThrow('invalid value "maybe" for dry-run from option dryRun; allowed: true or false');
    await expect(createAgent({ statusOnErorr: 401 } as unknown as AgentOptions)).rejects.toThrow(/^unknown option statusOnErorr;/);
  });

  it('options win over args, args over env, env over the default; lists and numbers pass as values', async () => {
    const all = { statusOnError: 401, args: ['--status-on-error', '402'], env: { KMESH_OPA_STATUS_ON_ERROR: '403' } };
    expect((await createAgent(all)).settings.statusOnError).toBe(401);
    expect((await createAgent({ ...all, statusOnError: undefined })).settings.statusOnError).toBe(402);
    expect((await createAgent({ env: all.env })).settings.statusOnError).toBe(403);
    expect((await createAgent({})).settings.statusOnError).toBe(403);
    const lists = await createAgent({ grpcRequestDurationBuckets: [0.001, 0.01], policy: ['a.rego', 'b.rego'] });
    expect(lists.settings.grpcRequestDurationBuckets).toEqual([0.001, 0.01]);
    expect(lists.settings.policy).toEqual(['a.rego', 'b.rego']);
  });

  it('the library reads process.env only when given it', async () => {
    process.env.KMESH_OPA_ON_AGENT_FAILURE = 'allow';
    process.env.KUMA_DATAPLANE_NAME = 'backend-01';
    try {
      const plain = await createAgent({});
      expect(plain.settings.onAgentFailure).toBe('deny');
      expect(plain.dataplane).toBeUndefined();
      const withEnv = await createAgent({ env: process.env });
      expect(withEnv.settings.onAgentFailure).toBe('allow');
      expect(withEnv.dataplane).toEqual({ mesh: 'default', name: 'backend-01' });
    } finally {
      delete process.env.KMESH_OPA_ON_AGENT_FAILURE;
      delete process.env.KUMA_DATAPLANE_NAME;
    }
  });
});

describe('policy in every form', () => {
  it('bundle bytes, a bare .wasm with its data, Rego modules, and files', async () => {
    const a = await agent();
    const { grpc } = await a.start();

    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-embed-'));
    const dataBundle = buildBundle(['data-driven.rego']);
    execFileSync('tar', ['-xzf', dataBundle, '-C', dir, '/policy.wasm'], { stdio: 'pipe' });
    const wasm = readFileSync(join(dir, 'policy.wasm'));
    const fromWasm = await a.setPolicy({ bundle: wasm, data: { config: { methods: ['PATCH'], tenant: 'acme' } }, origin: 'inline wasm' });
    expect(fromWasm).toMatchObject({ origin: 'inline wasm', entrypoint: 'envoy/authz/allow', revision: '' });
    const patched = await check(grpc, 'PATCH');
    expect(patched.status?.code ?? 0).toBe(0);
    expect(JSON.stringify(patched.ok_response)).toContain('acme');

    const fromBytes = await a.setPolicy({ bundle: readFileSync(buildBundle(['echo.rego'])) });
    expect(fromBytes.origin).toBe('bundle');
    const echoed = await check(grpc, 'DELETE');
    expect((structToJson(echoed.dynamic_metadata).input as { attributes: { request: { http: { method: string } } } }).attributes.request.http.method).toBe('DELETE');

    const fromModules = await a.setPolicy({
      rego: [
        { name: 'authz.rego', source: 'package envoy.authz\n\nallow if data.lib.writable[input.attributes.request.http.method]\n' },
        { name: 'lib.rego', source: 'package lib\n\nwritable := {"PUT"}\n' },
      ],
    });
    expect(fromModules).toMatchObject({ origin: 'authz.rego,lib.rego', regoVersion: 'v1' });
    expect((await check(grpc, 'PUT')).status?.code ?? 0).toBe(0);
    expect((await check(grpc, 'GET')).status?.code).toBe(PERMISSION_DENIED);

    const fromFiles = await a.setPolicy({ files: [join(POLICIES, 'rego-v0.rego')] });
    expect(fromFiles.regoVersion).toBe('v0');
    expect(a.policy).toEqual(fromFiles);
  });

  it('bad input: bytes that are neither a bundle nor a module are refused and the running policy stays', async () => {
    const a = await agent();
    await a.setPolicy({ rego: allowMethod('GET') });
    const { grpc } = await a.start();
    const err = await a.setPolicy({ bundle: new TextEncoder().encode('not a policy') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect((err as Error).message).toBe('bundle: not a bundle (.tar.gz from "opa build -t wasm") or a .wasm module');
    expect((await check(grpc, 'GET')).status?.code ?? 0).toBe(0);
    expect(await metricValue(a, 'kmesh_opa_policy_loads_total', 'outcome="failure"')).toBe(1);
    expect(await metricValue(a, 'kmesh_opa_policy_loads_total', 'outcome="success"')).toBe(1);
  });
});

describe('readiness and shutdown', () => {
  it('ready waits for a policy: listeners alone answer /health/ready 500, setPolicy makes it resolve', async () => {
    const a = await agent();
    let settled = false;
    void a.ready.then(() => (settled = true));
    const ports = await a.start();
    expect((await fetch(`http://127.0.0.1:${ports.diagnostics}/health/ready`)).status).toBe(500);
    expect(settled).toBe(false);
    const announced = new Promise((resolve) => a.once('ready', resolve));
    const policy = await a.setPolicy({ rego: allowMethod('GET') });
    expect(await a.ready).toEqual({ ports, revision: policy.revision });
    expect(await announced).toEqual({ ports, revision: policy.revision });
    expect((await fetch(`http://127.0.0.1:${ports.diagnostics}/health/ready`)).status).toBe(200);
  });

  it('stop() before ready rejects ready, emits close and frees every port', async () => {
    const a = await agent();
    const ports = await a.start();
    const closed = new Promise<void>((resolve) => a.once('close', resolve));
    await a.stop();
    await closed;
    await expect(a.ready).rejects.toThrow('stopped before it was ready');
    for (const port of Object.values(ports)) expect(await refused(port)).toBe(true);
  });

  it('start() loads the configured policy files, else the fallback policy', async () => {
    const configured = await agent({ policy: [join(POLICIES, 'rego-v1.rego')], fallbackPolicy: { rego: allowMethod('GET') } });
    await configured.start();
    expect(configured.policy?.origin).toBe(join(POLICIES, 'rego-v1.rego'));
    const fallback = await agent({ fallbackPolicy: { rego: allowMethod('GET'), origin: 'fallback' } });
    await fallback.start();
    expect(fallback.policy?.origin).toBe('fallback');
  });
});

describe('error events', () => {
  it('a result the plugin cannot use is an error event with error_counter\'s reason and the decision id', async () => {
    const a = await agent();
    await a.setPolicy({ rego: 'package envoy.authz\n\nallow := "yes"\n' });
    const { grpc } = await a.start();
    const errors: AgentError[] = [];
    a.on('error', (err) => errors.push(err));
    const res = await check(grpc, 'GET');
    // The Go plugin answers such a result with the agent failure (403 by default).
    expect(res.status?.code).toBe(PERMISSION_DENIED);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ name: 'AgentError', reason: 'envoyauth_result_error', decisionId: structToJson(res.dynamic_metadata).decision_id });
  });
});

describe('importing the package', () => {
  it('opens nothing, reads no KMESH_OPA_/KUMA_ variable and installs no signal handler; nor does createAgent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-import-'));
    const script = join(dir, 'probe.mjs');
    writeFileSync(
      script,
      `const reads = new Set();
process.env = new Proxy(process.env, { get(target, key) { if (typeof key === 'string' && /^(KMESH_OPA_|KUMA_)/.test(key)) reads.add(key); return Reflect.get(target, key); } });
const signals = () => ['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s));
const servers = () => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP') || r.startsWith('UDP') || r === 'Timeout');
const lib = await import(${JSON.stringify(join(ROOT, 'dist', 'index.js'))});
const afterImport = { signals: signals(), servers: servers() };
const agent = await lib.createAgent({ logLevel: 'error' });
console.log(JSON.stringify({ reads: [...reads], afterImport, afterCreate: { signals: signals(), servers: servers() }, exports: Object.keys(lib).sort() }));
`,
    );
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [script], { env: { ...process.env, KMESH_OPA_ADDR: ':1', KUMA_DATAPLANE_NAME: 'x' }, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`probe exited ${code}`))));
    });
    const probe = JSON.parse(out) as { reads: string[]; afterImport: unknown; afterCreate: unknown; exports: string[] };
    expect(probe.reads).toEqual([]);
    expect(probe.afterImport).toEqual({ signals: [0, 0, 0], servers: [] });
    expect(probe.afterCreate).toEqual({ signals: [0, 0, 0], servers: [] });
    expect(probe.exports).toEqual(['CompileError', 'ConfigError', 'DEFAULT_POLICY', 'DecisionLogsConfigError', 'PolicyLoadError', 'ServiceConfigError', 'SettingsError', 'VERSION', 'createAgent', 'createLogger']);
  });
});
