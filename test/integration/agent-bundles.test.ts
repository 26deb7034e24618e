// Bundles, discovery and status reports at the agent level: real `kmesh-opa run` processes fed by a
// real nginx (static bundle files) or by a node server where the test needs what nginx cannot do
// (faults, recorded headers and status POSTs). Bundles are built with the real `opa build`.
// Expectations follow OPA 1.19's documented behaviour: /health?bundles is 500 until every configured
// bundle has been activated; a failed download or activation keeps the previous bundle and shows as
// `bundle_error` in the status; a persisted bundle is activated before any download; discovery's
// default decision is data.<discovery.name>; status reports are POSTed to /status of the service.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serve, startFaultServer, type FaultServer } from '../helpers/bundle-server.js';
import { envoyClient, httpRequest, type CheckResponseObject } from '../helpers/envoy-client.js';
import { startNginx, type NginxServer } from '../helpers/nginx.js';
import { ADMIN_TOKEN } from '../helpers/seed.js';
import { opaBinary, startAgent, type AgentProcess } from '../helpers/tools.js';

const ONE_SECOND_POLLING = { min_delay_seconds: 1, max_delay_seconds: 1 };
/** The token of the seed page's acmecorp service. */
const ACMECORP_TOKEN = 'bGFza2RqZmxha3NkamZsa2Fqc2Rsa2ZqYWtsc2RqZmtramRmYWxkc2tm';
const GRPC_OK = 0;
const GRPC_PERMISSION_DENIED = 7;

const tmpDirs: string[] = [];
function tmp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kmesh-opa-${prefix}-`));
  tmpDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** `opa build` of one Rego module; `-t wasm` unless `plain`, extra flags (signing) appended. */
function opaBuild(rego: string, opts: { revision?: string; plain?: boolean; flags?: string[] } = {}): Buffer {
  const dir = tmp('agent-bundle');
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'policy.rego'), rego);
  const out = join(dir, 'bundle.tar.gz');
  const target = opts.plain ? [] : ['-t', 'wasm', '-e', 'envoy/authz/allow'];
  const revision = opts.revision ? ['-r', opts.revision] : [];
  // Bundle mode (-b): `opa build` signs only in that mode.
  execFileSync(opaBinary(), ['build', '-b', ...target, ...revision, ...(opts.flags ?? []), '-o', out, src], { stdio: 'pipe' });
  return readFileSync(out);
}

/** A bundle that allows everything and says which revision decided in an `x-rev` header. */
function revisionBundle(revision: string, flags: string[] = []): Buffer {
  return opaBuild(`package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-rev": "${revision}"}}\n`, { revision, flags });
}

function writeConfig(doc: Record<string, unknown>): string {
  const path = join(tmp('opa-config'), 'config.json');
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

const agents: AgentProcess[] = [];
async function agentWith(config: Record<string, unknown>, extra: string[] = []): Promise<AgentProcess> {
  const agent = await startAgent(['--opa-config-path', writeConfig(config), ...extra]);
  agents.push(agent);
  return agent;
}

async function stopAgents(): Promise<void> {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
}

afterEach(stopAgents);

/** What a plain request (no token) is answered with: the revision that allowed it, or 'denied'. */
async function decidedBy(agent: AgentProcess, headers: Record<string, string> = {}): Promise<string> {
  const client = envoyClient(agent.address);
  try {
    return revisionOf(await client.check(httpRequest({ method: 'GET', path: '/', headers })));
  } finally {
    client.close();
  }
}

function revisionOf(res: CheckResponseObject): string {
  if (res.status?.code === GRPC_PERMISSION_DENIED) return 'denied';
  if (res.status?.code !== GRPC_OK && res.status?.code !== undefined) return `status ${res.status.code}`;
  const headers = (res.ok_response?.headers ?? []) as Array<{ header?: { key?: string; value?: string } }>;
  return headers.find((h) => h.header?.key === 'x-rev')?.header?.value ?? 'allowed without x-rev';
}

async function status(agent: AgentProcess): Promise<Record<string, unknown>> {
  const body = (await (await fetch(`${agent.restUrl}/v1/status`)).json()) as { result: Record<string, unknown> };
  return body.result;
}

async function bundleStatus(agent: AgentProcess, name = 'authz'): Promise<Record<string, unknown>> {
  return ((await status(agent)).bundles as Record<string, Record<string, unknown>>)[name] ?? {};
}

async function healthBundles(agent: AgentProcess): Promise<number> {
  return (await fetch(`${agent.diagnosticsUrl}/health?bundles`)).status;
}

async function metricsText(agent: AgentProcess): Promise<string> {
  return (await fetch(`${agent.diagnosticsUrl}/metrics`)).text();
}

function metricValue(text: string, name: string, labelPart: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labelPart));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** The agent's log lines (JSON on stderr) at error level. */
function errorLines(agent: AgentProcess): string[] {
  return agent
    .stderr()
    .split('\n')
    .filter((l) => l.includes('"level":"error"'));
}

const POLL = { timeout: 10_000, interval: 100 };

let revA: Buffer;
let revB: Buffer;

beforeAll(() => {
  revA = revisionBundle('rev-a');
  revB = revisionBundle('rev-b');
});

describe('bundles from nginx', () => {
  let nginx: NginxServer;
  beforeAll(async () => {
    nginx = await startNginx();
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  it('not yet published: /health?bundles 500 and the boot policy decides; published: enforced, 200; a new revision is picked up and shown in /v1/status', async () => {
    const agent = await agentWith({
      services: { bundles: { url: nginx.url } },
      bundles: { authz: { service: 'bundles', resource: 'first/authz.tar.gz', polling: ONE_SECOND_POLLING } },
    });
    // nginx answers 404 until the bundle file exists.
    expect(await healthBundles(agent)).toBe(500);
    expect(await decidedBy(agent)).toBe('denied');
    // OPA 1.19.1 shows the same: code bundle_error, "server replied with Not Found", http_code 404.
    await expect.poll(() => bundleStatus(agent), POLL).toMatchObject({ code: 'bundle_error', message: 'server replied with Not Found', http_code: 404 });

    nginx.put('first/authz.tar.gz', revA);
    await expect.poll(() => decidedBy(agent), POLL).toBe('rev-a');
    expect(await healthBundles(agent)).toBe(200);
    expect(agent.stderr()).toContain('Bundle loaded and activated successfully.');

    nginx.put('first/authz.tar.gz', revB);
    await expect.poll(() => decidedBy(agent), POLL).toBe('rev-b');
    const result = await status(agent);
    expect(result.bundles).toMatchObject({ authz: { name: 'authz', active_revision: 'rev-b' } });
    expect((result.bundles as Record<string, Record<string, unknown>>).authz).not.toHaveProperty('code');
    expect(result.policy).toMatchObject({ layer: 'bundle', revision: 'rev-b' });
    expect(result.plugins).toMatchObject({ bundle: { state: 'OK' } });
  });
});

describe('persistence', () => {
  it('persist: true: with nginx gone, a restarted agent enforces the persisted bundle before any download', async () => {
    const nginx = await startNginx();
    const persistDir = tmp('persist');
    const config = {
      services: { bundles: { url: nginx.url } },
      bundles: { authz: { service: 'bundles', resource: 'authz.tar.gz', persist: true, polling: ONE_SECOND_POLLING } },
      persistence_directory: persistDir,
    };
    try {
      nginx.put('authz.tar.gz', revA);
      const first = await agentWith(config);
      await expect.poll(() => decidedBy(first), POLL).toBe('rev-a');
      await first.stop();
    } finally {
      await nginx.stop();
    }

    const second = await agentWith(config);
    // nginx is gone, so no download can have brought it: the persisted copy decides.
    await expect.poll(() => decidedBy(second), POLL).toBe('rev-a');
    expect(second.stderr()).toContain('Bundle loaded from disk and activated successfully.');
    expect(await healthBundles(second)).toBe(200);
    expect(await bundleStatus(second)).toMatchObject({ active_revision: 'rev-a' });
    await expect.poll(() => errorLines(second).join('\n'), POLL).toContain('Bundle load failed');
    expect(await decidedBy(second)).toBe('rev-a');
    expect(second.stderr()).not.toContain('Bundle loaded and activated successfully.');
  });

  it('server down at start and nothing persisted (bad input: a closed port): the boot policy decides and the log says why', async () => {
    const closed = await startFaultServer();
    const url = closed.url;
    await closed.close();
    const agent = await agentWith({
      services: { bundles: { url } },
      bundles: { authz: { service: 'bundles', resource: 'authz.tar.gz', polling: ONE_SECOND_POLLING } },
    });
    await expect.poll(() => errorLines(agent).join('\n'), POLL).toMatch(/Bundle load failed.*ECONNREFUSED|Bundle load failed.*connect/);
    // The boot policy is the seed page's JWT example: no token is denied, the admin token allowed.
    expect(await decidedBy(agent)).toBe('denied');
    expect(await decidedBy(agent, { authorization: `Bearer ${ADMIN_TOKEN}` })).toBe('allowed without x-rev');
    expect((await status(agent)).policy).toMatchObject({ layer: 'boot' });
    expect(await healthBundles(agent)).toBe(500);
    expect(await bundleStatus(agent)).toMatchObject({ code: 'bundle_error' });
  });
});

describe('faults at agent level: the active bundle stays enforced, the reason is in the log, the status and the metrics', () => {
  let server: FaultServer;
  beforeAll(async () => {
    server = await startFaultServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  /** Waits until a failure (in the status and the failure counter) that came after `since` requests. */
  async function expectFailure(agent: AgentProcess, reason: string, before: number, message: RegExp): Promise<void> {
    await expect.poll(async () => metricValue(await metricsText(agent), 'kmesh_opa_bundle_failures_total', `reason="${reason}"`), POLL).toBeGreaterThan(before);
    // The previous fault's backoff retry may be the failure counted: wait for this fault's message.
    await expect.poll(async () => String((await bundleStatus(agent)).message), POLL).toMatch(message);
    const s = await bundleStatus(agent);
    expect(s).toMatchObject({ code: 'bundle_error', active_revision: 'rev-a' });
    expect(String(s.message)).toMatch(message);
    expect(errorLines(agent).join('\n')).toMatch(message);
    const metrics = await metricsText(agent);
    expect(metrics).toMatch(/bundle_failed_load_counter\{[^}]*name="authz"[^}]*\} [1-9]/);
    expect(await decidedBy(agent)).toBe('rev-a');
  }

  it('a corrupt tarball, a truncated one, a bundle needing a missing builtin (http.send) and 500s', async () => {
    server.handle(serve(revA, { etag: '"a"' }));
    const agent = await agentWith({
      services: { bundles: { url: server.url } },
      bundles: { authz: { service: 'bundles', resource: 'authz.tar.gz', polling: ONE_SECOND_POLLING } },
    });
    await expect.poll(() => decidedBy(agent), POLL).toBe('rev-a');

    server.handle(serve(Buffer.from('this is not a gzipped tarball'), { etag: '"corrupt"' }));
    await expectFailure(agent, 'activation', 0, /not a gzipped tarball/);

    const afterCorrupt = metricValue(await metricsText(agent), 'kmesh_opa_bundle_failures_total', 'reason="activation"');
    server.handle(serve(revA.subarray(0, Math.floor(revA.length / 2)), { etag: '"truncated"' }));
    await expectFailure(agent, 'activation', afterCorrupt, /not a gzipped tarball: unexpected end of file/);

    const httpSend = opaBuild(
      'package envoy.authz\n\nallow if {\n  http.send({"method": "GET", "url": "http://127.0.0.1:9/"}).status_code == 200\n}\n',
      { revision: 'needs-http-send' },
    );
    const activationFailures = metricValue(await metricsText(agent), 'kmesh_opa_bundle_failures_total', 'reason="activation"');
    server.handle(serve(httpSend, { etag: '"http-send"' }));
    await expectFailure(agent, 'activation', activationFailures, /http\.send/);

    server.handle((_req, res) => void res.writeHead(500).end('boom'));
    await expectFailure(agent, 'http', 0, /server replied with Internal Server Error/);
    expect(await bundleStatus(agent)).toMatchObject({ http_code: 500 });
  });

  it('bad input: a gzip bomb (2 KiB that unpacks to 10 MiB) is refused by size_limit_bytes, the active bundle stays', async () => {
    server.handle(serve(revA, { etag: '"a"' }));
    const agent = await agentWith({
      services: { bundles: { url: server.url } },
      bundles: { authz: { service: 'bundles', resource: 'authz.tar.gz', polling: ONE_SECOND_POLLING, size_limit_bytes: 1_000_000 } },
    });
    await expect.poll(() => decidedBy(agent), POLL).toBe('rev-a');
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(1_000_000);
    server.handle(serve(bomb, { etag: '"bomb"' }));
    await expectFailure(agent, 'activation', 0, /unpacks to more than size_limit_bytes \(1000000\)/);
    expect(await decidedBy(agent)).toBe('rev-a');
  });

  it('signing configured: a bundle signed with another key is refused (bad input: HS256 signature by a different secret)', async () => {
    const signed = (secret: string, revision: string) =>
      opaBuild(`package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-rev": "${revision}"}}\n`, {
        revision,
        flags: ['--signing-alg', 'HS256', '--signing-key', secret],
      });
    server.handle(serve(signed('the-right-secret', 'rev-a'), { etag: '"signed-a"' }));
    const agent = await agentWith({
      services: { bundles: { url: server.url } },
      keys: { bundle_key: { algorithm: 'HS256', key: 'the-right-secret' } },
      bundles: { authz: { service: 'bundles', resource: 'authz.tar.gz', polling: ONE_SECOND_POLLING, signing: { keyid: 'bundle_key' } } },
    });
    await expect.poll(() => decidedBy(agent), POLL).toBe('rev-a');

    server.handle(serve(signed('a-wrong-secret', 'rev-forged'), { etag: '"signed-forged"' }));
    // OPA 1.19.1's text for the same bundle and keys.
    await expectFailure(agent, 'activation', 0, /failed to verify JWT signature: invalid HMAC signature/);
  });
});

describe('discovery: the seed page acmecorp example over loopback', () => {
  it('discovers bundles, decision_logs and status from the acmecorp service; enforces the discovered bundle and POSTs OPA status reports', async () => {
    const discoveryBundle = opaBuild(
      [
        'package example',
        '',
        'bundles := {"authz": {"service": "acmecorp", "resource": "bundles/authz.tar.gz", "polling": {"min_delay_seconds": 1, "max_delay_seconds": 1}}}',
        '',
        'decision_logs := {"service": "acmecorp", "reporting": {"min_delay_seconds": 1, "max_delay_seconds": 1}}',
        '',
        'status := {"service": "acmecorp"}',
        '',
      ].join('\n'),
      { plain: true, revision: 'discovery-1' },
    );
    const statusBodies: Array<Record<string, unknown>> = [];
    const logBatches: unknown[][] = [];
    let logsAnswer = 200;
    const server = await startFaultServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/control-plane-api/v1/configuration/example/discovery') return serve(discoveryBundle, { etag: '"d1"' })(req, res, 0);
        if (req.url === '/control-plane-api/v1/bundles/authz.tar.gz') return serve(revA, { etag: '"a"' })(req, res, 0);
        if (req.method === 'POST' && req.url === '/control-plane-api/v1/status') statusBodies.push(JSON.parse(body.toString('utf8')) as Record<string, unknown>);
        else if (req.method === 'POST' && req.url === '/control-plane-api/v1/logs') {
          if (logsAnswer !== 200) return void res.writeHead(logsAnswer).end();
          logBatches.push(JSON.parse(gunzipSync(body).toString('utf8')) as unknown[]);
        } else return void res.writeHead(404).end();
        res.writeHead(200).end();
      });
    });
    try {
      const agent = await agentWith({
        services: { acmecorp: { url: `${server.url}/control-plane-api/v1`, credentials: { bearer: { token: ACMECORP_TOKEN } } } },
        discovery: { name: 'example', resource: '/configuration/example/discovery' },
      });
      await expect.poll(() => decidedBy(agent), { ...POLL, timeout: 20_000 }).toBe('rev-a');
      expect(await healthBundles(agent)).toBe(200);

      const bundleRequests = server.requests.filter((r) => r.method === 'GET');
      expect(bundleRequests.map((r) => r.url)).toEqual(expect.arrayContaining(['/control-plane-api/v1/configuration/example/discovery', '/control-plane-api/v1/bundles/authz.tar.gz']));
      for (const r of server.requests) expect(r.headers.authorization, `${r.method} ${r.url}`).toBe(`Bearer ${ACMECORP_TOKEN}`);

      await expect
        .poll(() => statusBodies.find((b) => (b.bundles as Record<string, { active_revision?: string }> | undefined)?.authz?.active_revision === 'rev-a'), POLL)
        .toBeDefined();
      const report = statusBodies.find((b) => (b.bundles as Record<string, { active_revision?: string }> | undefined)?.authz?.active_revision === 'rev-a')!;
      expect(report.labels).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), version: expect.any(String) });
      expect(report.discovery).toMatchObject({ name: 'example', active_revision: 'discovery-1' });
      expect(report.plugins).toMatchObject({ bundle: { state: 'OK' }, discovery: { state: 'OK' }, decision_logs: { state: 'OK' } });
      const s = await status(agent);
      expect(s.discovery).toMatchObject({ name: 'example', active_revision: 'discovery-1' });

      // The discovered decision_logs section sends decisions to the same service.
      await decidedBy(agent);
      await expect.poll(() => logBatches.flat().length, POLL).toBeGreaterThan(0);
      // The last one: decisions taken after discovery but before the bundle was active name no bundle.
      expect(logBatches.flat().at(-1)).toMatchObject({ labels: { id: (report.labels as Record<string, string>).id }, bundles: { authz: { revision: 'rev-a' } } });

      // Bad input from the service: uploads answered 503 show in the next status report as OPA's decision-log error.
      logsAnswer = 503;
      await decidedBy(agent);
      await expect
        .poll(() => statusBodies.find((b) => (b.decision_logs as { code?: string } | undefined)?.code === 'decision_log_error'), { ...POLL, timeout: 10_000 })
        .toMatchObject({ decision_logs: { code: 'decision_log_error', http_code: 503, message: expect.stringContaining('server replied with HTTP 503') } });
    } finally {
      // Agents first: one stopping delivers its queued decisions, which needs the server.
      await stopAgents();
      await server.close();
    }
  });
});

describe('an OPAPolicy whose agentConfig adds services and bundles', () => {
  it('applying it starts the bundle download; deleting it returns to the boot state', async () => {
    const nginx = await startNginx();
    try {
      nginx.put('authz.tar.gz', revA);
      const resources = tmp('resources');
      const agent = await agentWith({}, ['--resources-dir', resources]);
      expect(await decidedBy(agent)).toBe('denied');
      const policyFile = join(resources, 'opa.yaml');
      writeFileSync(
        policyFile,
        `type: OPAPolicy
mesh: default
name: opa-bundles
selectors:
- match:
    kuma.io/service: '*'
conf:
  agentConfig:
    inlineString: |
      services:
        bundles:
          url: ${nginx.url}
      bundles:
        authz:
          service: bundles
          resource: authz.tar.gz
          polling:
            min_delay_seconds: 1
            max_delay_seconds: 1
`,
      );
      await expect.poll(() => decidedBy(agent), POLL).toBe('rev-a');
      expect((await status(agent)).policy).toMatchObject({ layer: 'bundle', revision: 'rev-a' });

      rmSync(policyFile);
      await expect.poll(() => decidedBy(agent), POLL).toBe('denied');
      const s = await status(agent);
      expect(s.policy).toMatchObject({ layer: 'boot' });
      expect(s.bundles).toEqual({});
      expect(await decidedBy(agent, { authorization: `Bearer ${ADMIN_TOKEN}` })).toBe('allowed without x-rev');
    } finally {
      await nginx.stop();
    }
  });
});
