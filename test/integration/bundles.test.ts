// Bundles from bundle servers, end to end: a real nginx serving `opa build -t wasm` bundles, and a
// node:http server for the faults nginx cannot produce. The plugin activates through the real
// loadPolicyBytes, so "still enforced" means the previous WASM policy still evaluates.
// Expectations come from OPA 1.19.1 (download/download.go, plugins/bundle/plugin.go) and from running
// `opa run` against the fault server: 500s retried after 0, ~160, ~256, ~410 ms (100 ms x 1.6^n,
// capped at max_delay); after a failure If-None-Match carries the last activated bundle's ETag;
// `Prefer: wait=N` only while answers come as application/vnd.openpolicyagent.bundles.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseBundlesConfig, type BundleConfig } from '../../src/bundles/config.js';
import { LONG_POLL_CONTENT_TYPE } from '../../src/bundles/download.js';
import { createBundleMetrics } from '../../src/bundles/metrics.js';
import { persistedBundlePath } from '../../src/bundles/persist.js';
import { createBundlePlugin, type BundlePlugin } from '../../src/bundles/plugin.js';
import { loadPolicyBytes, type ActivePolicy } from '../../src/engine/load.js';
import { createLogger } from '../../src/log.js';
import { createServiceClients, parseServices, type ServiceClients } from '../../src/services/index.js';
import { serve, startFaultServer, type FaultServer } from '../helpers/bundle-server.js';
import { startNginx, type NginxServer } from '../helpers/nginx.js';
import { buildBundle, opaBinary } from '../helpers/tools.js';

const ENGINE = { decision: 'envoy/authz/allow', maxMemoryPages: 256, regoVersion: 'auto' as const, compiler: undefined, cacheDir: tmpdir() };

/** A bundle whose decision is its own label, with that label as manifest revision. */
function buildLabelled(label: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-bundle-'));
  writeFileSync(join(dir, 'policy.rego'), `package envoy.authz\n\nallow := "${label}"\n`);
  const out = join(dir, 'bundle.tar.gz');
  execFileSync(opaBinary(), ['build', '-t', 'wasm', '-e', 'envoy/authz/allow', '-r', label, '-o', out, join(dir, 'policy.rego')], { stdio: 'pipe' });
  return readFileSync(out);
}

interface Rig {
  plugin: BundlePlugin;
  /** The policy being enforced: what the last successful activation swapped in. */
  active(): ActivePolicy | undefined;
  decision(): unknown;
  activations: Array<{ revision: string; persisted: boolean; etag?: string }>;
  logs: Array<Record<string, unknown>>;
  registry: Registry;
  services: ServiceClients;
}

const rigs: Rig[] = [];

function rig(url: string, source: Record<string, unknown>, opts: { persistDir?: string; random?: () => number; service?: Record<string, unknown> } = {}): Rig {
  const services = createServiceClients(parseServices({ bundles: { url, ...opts.service } }));
  const [config] = parseBundlesConfig({ authz: source }, services.names, opts.persistDir ? { persistenceDirectory: opts.persistDir } : {}) as [BundleConfig];
  const logs: Array<Record<string, unknown>> = [];
  const registry = new Registry();
  let active: ActivePolicy | undefined;
  const activations: Rig['activations'] = [];
  const plugin = createBundlePlugin({
    config,
    services,
    log: createLogger('debug', { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) }),
    metrics: createBundleMetrics(registry),
    async activate(bytes, meta) {
      const next = loadPolicyBytes(bytes, ENGINE, `bundle ${meta.name}`);
      active = next;
      activations.push({ revision: next.revision, persisted: meta.persisted, ...(meta.etag ? { etag: meta.etag } : {}) });
      return { revision: next.revision };
    },
    ...(opts.random ? { random: opts.random } : {}),
  });
  const r: Rig = { plugin, active: () => active, decision: () => active?.policy.evaluate({}), activations, logs, registry, services };
  rigs.push(r);
  return r;
}

async function failureCount(r: Rig, reason: string): Promise<number> {
  const metric = await r.registry.getSingleMetric('kmesh_opa_bundle_failures_total')!.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

function errorLogs(r: Rig): string[] {
  return r.logs.filter((l) => l.level === 'error' && l.name === 'authz').map((l) => String(l.msg));
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const MANUAL = { resource: 'authz.tar.gz', trigger: 'manual' };

let bundleA: Buffer;
let bundleB: Buffer;

beforeAll(() => {
  bundleA = buildLabelled('rev-a');
  bundleB = buildLabelled('rev-b');
});

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.plugin.stop();
    await r.services.close();
  }
});

describe('bundles from nginx', () => {
  let nginx: NginxServer;
  beforeAll(async () => {
    nginx = await startNginx();
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  it('downloads and activates the bundle, keeps it on 304, and picks up a new revision', async () => {
    nginx.put('authz.tar.gz', bundleA);
    const r = rig(nginx.url, MANUAL);
    await r.plugin.start();
    expect(r.plugin.ready()).toBe(false);

    await r.plugin.trigger();
    expect(r.decision()).toBe('rev-a');
    const first = r.plugin.status();
    expect(first).toMatchObject({ name: 'authz', activeRevision: 'rev-a', size: bundleA.length, type: 'snapshot' });
    expect(first.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/); // nginx's own ETag
    expect(r.plugin.ready()).toBe(true);

    // Unchanged: nginx answers 304 to If-None-Match, nothing is activated again.
    await r.plugin.trigger();
    expect(r.activations).toHaveLength(1);
    expect(r.plugin.status().lastSuccessfulRequest!.getTime()).toBeGreaterThan(first.lastSuccessfulActivation!.getTime() - 1);

    nginx.put('authz.tar.gz', bundleB);
    await r.plugin.trigger();
    expect(r.decision()).toBe('rev-b');
    expect(r.activations.map((a) => a.revision)).toEqual(['rev-a', 'rev-b']);
    expect(r.plugin.status().etag).not.toBe(first.etag);
  });

  it('persists the activated bundle and enforces it at the next start while the server is down', async () => {
    const persistDir = mkdtempSync(join(tmpdir(), 'kmesh-opa-persist-'));
    nginx.put('authz.tar.gz', bundleA);
    const online = rig(nginx.url, { ...MANUAL, persist: true }, { persistDir });
    await online.plugin.start();
    await online.plugin.trigger();
    expect(readFileSync(persistedBundlePath(persistDir, 'authz'))).toEqual(bundleA);

    const offline = rig('http://127.0.0.1:9', { ...MANUAL, persist: true }, { persistDir });
    await offline.plugin.start();
    expect(offline.plugin.ready()).toBe(true);
    expect(offline.decision()).toBe('rev-a');
    expect(offline.activations).toEqual([{ revision: 'rev-a', persisted: true }]);

    await expect(offline.plugin.trigger()).rejects.toThrow(/^request failed/);
    expect(offline.decision()).toBe('rev-a');
    expect(offline.plugin.status()).toMatchObject({ code: 'bundle_error', activeRevision: 'rev-a' });
  });

  it('ignores a corrupt persisted bundle (garbage bytes in bundle.tar.gz) and downloads instead', async () => {
    const persistDir = mkdtempSync(join(tmpdir(), 'kmesh-opa-persist-'));
    mkdirSync(join(persistDir, 'bundles', 'authz'), { recursive: true });
    writeFileSync(persistedBundlePath(persistDir, 'authz'), 'not a bundle');
    nginx.put('authz.tar.gz', bundleA);
    const r = rig(nginx.url, { ...MANUAL, persist: true }, { persistDir });
    await r.plugin.start();
    expect(r.plugin.ready()).toBe(false);
    expect(errorLogs(r)).toEqual([expect.stringMatching(/^Bundle activation failed: .*not a bundle/)]);

    await r.plugin.trigger();
    expect(r.decision()).toBe('rev-a');
    expect(readFileSync(persistedBundlePath(persistDir, 'authz'))).toEqual(bundleA);
  });
});

describe('bundle server faults', () => {
  let server: FaultServer;
  afterEach(async () => {
    await server?.close();
  });

  it('server down at start without a persisted bundle: not ready, the error in status, log and metric', async () => {
    const r = rig('http://127.0.0.1:9', MANUAL);
    await r.plugin.start();
    await expect(r.plugin.trigger()).rejects.toThrow(/^request failed/);
    expect(r.plugin.ready()).toBe(false);
    expect(r.plugin.status()).toMatchObject({ code: 'bundle_error', message: expect.stringMatching(/^request failed/) });
    expect(errorLogs(r)).toEqual([expect.stringMatching(/^Bundle load failed: request failed/)]);
    expect(await failureCount(r, 'request')).toBe(1);
  });

  it('retries 500s with exponential backoff, then activates and resets', async () => {
    server = await startFaultServer((_req, res, n) => (n < 3 ? res.writeHead(500).end() : serve(bundleA, { etag: '"a"' })(_req, res, n)));
    const r = rig(server.url, { resource: 'authz.tar.gz', polling: { min_delay_seconds: 60, max_delay_seconds: 120 } }, { random: () => 0.5 });
    await r.plugin.start();
    await until(() => r.plugin.ready());
    const at = server.requests.map((q) => q.at);
    // Go's DefaultBackoff without jitter (random 0.5): 0, 160, 256 ms.
    expect(at[1]! - at[0]!).toBeLessThan(100);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(150);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(245);
    expect(r.decision()).toBe('rev-a');
    expect(errorLogs(r)).toEqual(Array(3).fill('Bundle load failed: server replied with Internal Server Error'));
    expect(await failureCount(r, 'http')).toBe(3);
    expect(r.plugin.status().code).toBeUndefined();
    expect(r.plugin.status().httpCode).toBeUndefined();
  });

  it('gives up on a response whose headers never come (hung past response_header_timeout_seconds) and keeps the bundle', async () => {
    server = await startFaultServer(serve(bundleA, { etag: '"a"' }));
    const r = rig(server.url, MANUAL, { service: { response_header_timeout_seconds: 1 } });
    await r.plugin.start();
    await r.plugin.trigger();
    server.handle(() => undefined); // never answers
    const started = Date.now();
    await expect(r.plugin.trigger()).rejects.toThrow(/^request failed: .*Headers Timeout/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.decision()).toBe('rev-a');
    expect(r.plugin.status()).toMatchObject({ code: 'bundle_error', activeRevision: 'rev-a' });
    expect(await failureCount(r, 'request')).toBe(1);
  });

  const rejected: Array<[string, () => Buffer, RegExp]> = [
    ['a truncated tarball (first half of the bytes)', () => bundleB.subarray(0, bundleB.length >> 1), /not valid gzip: unexpected end of file/],
    ['corrupt gzip (gzip magic then garbage)', () => Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(64, 0xab)]), /not valid gzip/],
    ['a tarball of garbage inside valid gzip', () => gzipSync(Buffer.alloc(1024, 0x41)), /corrupt tar header/],
  ];
  it.each(rejected)('rejects %s: the previous bundle stays enforced', async (_what, bytes, reason) => {
    server = await startFaultServer(serve(bundleA, { etag: '"a"' }));
    const r = rig(server.url, MANUAL);
    await r.plugin.start();
    await r.plugin.trigger();
    server.handle(serve(bytes(), { etag: '"bad"' }));
    await expect(r.plugin.trigger()).rejects.toThrow();
    expect(r.decision()).toBe('rev-a');
    expect(r.plugin.status()).toMatchObject({ code: 'bundle_error', activeRevision: 'rev-a', message: expect.stringMatching(reason) });
    expect(errorLogs(r)).toEqual([expect.stringMatching(/^Bundle activation failed: /)]);
    expect(await failureCount(r, 'activation')).toBe(1);
    // The rejected bundle's ETag is not remembered: the next request asks relative to the active one,
    // so a fixed bundle is fetched even if the server kept the bad one's ETag.
    server.handle(serve(bundleB, { etag: '"bad"' }));
    await r.plugin.trigger();
    expect(server.requests.at(-1)!.headers['if-none-match']).toBe('"a"');
    expect(r.decision()).toBe('rev-b');
    expect(r.plugin.status().code).toBeUndefined();
  });

  it('rejects a WASM bundle that needs a builtin kmesh-opa lacks (http.send)', async () => {
    const httpSend = readFileSync(buildBundle(['unsupported-http-send.rego']));
    server = await startFaultServer(serve(bundleA, { etag: '"a"' }));
    const r = rig(server.url, MANUAL);
    await r.plugin.start();
    await r.plugin.trigger();
    server.handle(serve(httpSend, { etag: '"send"' }));
    await expect(r.plugin.trigger()).rejects.toThrow(/http\.send/);
    expect(r.decision()).toBe('rev-a');
    expect(r.plugin.status().message).toMatch(/http\.send/);
    expect(errorLogs(r)).toEqual([expect.stringMatching(/^Bundle activation failed: .*http\.send/)]);
  });

  it('aborts a download larger than size_limit_bytes', async () => {
    server = await startFaultServer(serve(bundleA, { etag: '"a"' }));
    const r = rig(server.url, { ...MANUAL, size_limit_bytes: bundleA.length + 10 });
    await r.plugin.start();
    await r.plugin.trigger();
    server.handle(serve(Buffer.alloc(bundleA.length + 5_000_000, 1), { etag: '"big"' }));
    await expect(r.plugin.trigger()).rejects.toThrow(/^bundle exceeds size limit/);
    expect(r.decision()).toBe('rev-a');
    expect(r.plugin.status().message).toMatch(/^bundle exceeds size limit/);
    expect(await failureCount(r, 'size_limit')).toBe(1);
  });

  it('activates every 200 of a server whose ETag never changes (it ignores If-None-Match)', async () => {
    server = await startFaultServer(serve(bundleA, { etag: '"same"' }));
    const r = rig(server.url, MANUAL);
    await r.plugin.start();
    await r.plugin.trigger();
    server.handle(serve(bundleB, { etag: '"same"' }));
    await r.plugin.trigger();
    expect(server.requests.map((q) => q.headers['if-none-match'])).toEqual([undefined, '"same"']);
    expect(r.decision()).toBe('rev-b');
  });

  it('long polls while the server answers with the bundle content type, and gets a new revision at once', async () => {
    let publish: (() => void) | undefined;
    server = await startFaultServer((req, res, n) => {
      if (n === 0) return serve(bundleA, { etag: '"a"', contentType: LONG_POLL_CONTENT_TYPE })(req, res, n);
      publish = () => serve(bundleB, { etag: '"b"', contentType: LONG_POLL_CONTENT_TYPE })(req, res, n);
    });
    // min/max of a minute: only long polling can bring revision b within the test.
    const r = rig(server.url, { resource: 'authz.tar.gz', polling: { min_delay_seconds: 60, max_delay_seconds: 120, long_polling_timeout_seconds: 10 } });
    await r.plugin.start();
    await until(() => publish !== undefined);
    expect(r.decision()).toBe('rev-a');
    expect(server.requests[1]!.headers).toMatchObject({ prefer: 'modes=snapshot;wait=10', 'if-none-match': '"a"' });
    const published = Date.now();
    publish!();
    await until(() => r.decision() === 'rev-b');
    expect(Date.now() - published).toBeLessThan(1000);
  });

  it('lets a long poll be held past response_header_timeout_seconds (up to wait + that timeout)', async () => {
    server = await startFaultServer((req, res, n) => {
      if (n === 0) return serve(bundleA, { etag: '"a"', contentType: LONG_POLL_CONTENT_TYPE })(req, res, n);
      setTimeout(() => res.writeHead(304, { etag: '"a"' }).end(), 1500);
    });
    const r = rig(server.url, { ...MANUAL, polling: { min_delay_seconds: 60, max_delay_seconds: 120, long_polling_timeout_seconds: 2 } }, { service: { response_header_timeout_seconds: 1 } });
    await r.plugin.start();
    await r.plugin.trigger();
    await r.plugin.trigger();
    expect(r.plugin.status().code).toBeUndefined();
    expect(r.decision()).toBe('rev-a');
  });

  it('falls back to periodic polling when the content type switches away from the bundle type, and back', async () => {
    const types = [LONG_POLL_CONTENT_TYPE, 'application/gzip', LONG_POLL_CONTENT_TYPE, 'application/gzip'];
    server = await startFaultServer((req, res, n) => serve(n % 2 ? bundleB : bundleA, { etag: `"${n}"`, contentType: types[n] ?? 'application/gzip' })(req, res, n));
    const r = rig(server.url, { ...MANUAL, polling: { min_delay_seconds: 1, max_delay_seconds: 2, long_polling_timeout_seconds: 5 } });
    await r.plugin.start();
    for (let i = 0; i < 4; i++) await r.plugin.trigger();
    // Configured long polling asks first; each answer's type decides the next request.
    expect(server.requests.map((q) => q.headers.prefer)).toEqual(['modes=snapshot;wait=5', 'modes=snapshot;wait=5', 'modes=snapshot', 'modes=snapshot;wait=5']);
  });

  it('stop() aborts a long poll in flight at once', async () => {
    server = await startFaultServer((req, res, n) => (n === 0 ? serve(bundleA, { etag: '"a"', contentType: LONG_POLL_CONTENT_TYPE })(req, res, n) : undefined));
    const r = rig(server.url, { resource: 'authz.tar.gz', polling: { min_delay_seconds: 60, max_delay_seconds: 120, long_polling_timeout_seconds: 30 } });
    await r.plugin.start();
    await server.waitForRequests(2);
    const started = Date.now();
    await r.plugin.stop();
    expect(Date.now() - started).toBeLessThan(500);
    expect(r.decision()).toBe('rev-a');
  });
});
