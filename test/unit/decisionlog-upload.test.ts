// Decision logs end to end against real node:http receivers: what arrives, how it is split, retried,
// limited and flushed, with OPA 1.19.1's behaviour as the expectation (observed by running the
// reference plugin against such a receiver: POST {url}/logs, gzip, application/json, its User-Agent,
// retries after 500s at 0, ~160, ~256, ~410, ~655 ms ... capped at max_delay_seconds).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../src/authz/check.js';
import { createDecisionLogs, parseDecisionLogsConfig, type DecisionLogs, type DecisionLogsDeps } from '../../src/decisionlog/index.js';
import { loadPolicyBytes } from '../../src/engine/load.js';
import { createLogger } from '../../src/log.js';
import { createServiceClients, OPA_USER_AGENT, parseServices, type ServiceClients } from '../../src/services/index.js';
import { buildBundle } from '../helpers/tools.js';

interface Received {
  at: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  size: number;
  events: Array<Record<string, unknown>>;
  status: number;
}

interface Receiver {
  url: string;
  requests: Received[];
  events(): Array<Record<string, unknown>>;
  waitFor(check: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A decision log service: records every request, answers `status(n)` for the n-th (1-based). */
async function receiver(status: (n: number) => number = () => 200, server: HttpServer | HttpsServer = createHttpServer()): Promise<Receiver> {
  const requests: Received[] = [];
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const code = status(requests.length + 1);
      const events = req.headers['content-encoding'] === 'gzip' ? (JSON.parse(gunzipSync(raw).toString('utf8')) as Array<Record<string, unknown>>) : [];
      requests.push({ at: Date.now(), method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, size: raw.length, events, status: code });
      res.statusCode = code;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const r: Receiver = {
    url: `${server instanceof HttpsServer ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    events: () => requests.filter((q) => q.status >= 200 && q.status < 300).flatMap((q) => q.events),
    async waitFor(check, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > until) throw new Error(`receiver: condition not met in ${timeoutMs} ms (${requests.length} requests)`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  cleanups.push(async () => {
    server.closeAllConnections();
    await r.close();
  });
  return r;
}

const quiet = createLogger('error', { write: () => undefined });

interface Uploading {
  logs: DecisionLogs;
  registry: Registry;
  services: ServiceClients;
}

function uploading(url: string, section: Record<string, unknown>, deps: Partial<DecisionLogsDeps> = {}, service: Record<string, unknown> = {}): Uploading {
  const services = createServiceClients(parseServices({ dl: { url, ...service } }));
  const registry = new Registry();
  const config = parseDecisionLogsConfig({ service: 'dl', ...section }, ['dl'])!;
  const logs = createDecisionLogs(config, { services, labels: { id: 'agent-1', version: '1.19.1' }, logger: quiet, registry, path: 'envoy/authz/allow', ...deps });
  cleanups.push(async () => {
    await logs.stop(1000);
    await services.close();
  });
  return { logs, registry, services };
}

function decision(i: number, extra: Record<string, unknown> = {}): DecisionRecord {
  return {
    decisionId: `d-${String(i).padStart(4, '0')}`,
    version: 'v3',
    input: { attributes: { request: { http: { method: 'GET', path: `/item/${i}` } } }, ...extra },
    result: true,
    allowed: true,
    revision: '',
    durationSeconds: 0.0001,
  };
}

/** Random hex: text gzip cannot shrink much, so that sizes are predictable. */
function noise(chars: number): string {
  let s = '';
  while (s.length < chars) s += Math.random().toString(16).slice(2);
  return s.slice(0, chars);
}

const ids = (events: Array<Record<string, unknown>>) => events.map((e) => e.decision_id);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => `d-${String(from + k).padStart(4, '0')}`);

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = (metric?.values ?? []).find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

describe('uploads', () => {
  it("POSTs gzipped JSON arrays to {url}/logs with OPA's headers, every event once and in order", async () => {
    const rx = await receiver();
    const { logs } = uploading(`${rx.url}/base/`, { reporting: { min_delay_seconds: 1, max_delay_seconds: 1 } }, {}, { headers: { 'X-Custom': 'abc' } });
    for (let i = 0; i < 25; i++) logs.log(decision(i));
    // The periodic loop uploads on its own, about one second after its first (empty) round.
    await rx.waitFor(() => rx.events().length === 25, 5000);
    const [first] = rx.requests;
    expect(first?.method).toBe('POST');
    expect(first?.url).toBe('/base/logs');
    expect(first?.headers['content-encoding']).toBe('gzip');
    expect(first?.headers['content-type']).toBe('application/json');
    expect(first?.headers['user-agent']).toBe(OPA_USER_AGENT);
    expect(OPA_USER_AGENT).toMatch(/^Open-Policy-Agent\/1\.19\.1 \(\w+, \w+\)$/); // the reference sent "Open-Policy-Agent/1.19.1 (linux, amd64)"
    expect(first?.headers['x-custom']).toBe('abc');
    expect(ids(rx.events())).toEqual(range(0, 25));
    expect(Object.keys(rx.events()[0]!)).toEqual(['labels', 'decision_id', 'path', 'input', 'result', 'timestamp', 'metrics']);
  });

  it('splits uploads so that no body exceeds upload_size_limit_bytes', async () => {
    const rx = await receiver();
    const { logs } = uploading(rx.url, { reporting: { upload_size_limit_bytes: 1024 } });
    for (let i = 0; i < 120; i++) logs.log(decision(i, { note: noise(150) }));
    expect(await logs.flush(10_000)).toBe(true);
    expect(rx.requests.length).toBeGreaterThan(10);
    for (const q of rx.requests) expect(q.size).toBeLessThanOrEqual(1024);
    expect(ids(rx.events())).toEqual(range(0, 120));
  });

  it('retries after 500s with growing, bounded backoff and delivers everything once the service recovers', async () => {
    const failures = 7;
    const rx = await receiver((n) => (n <= failures ? 500 : 200));
    const { logs, registry } = uploading(rx.url, { reporting: { min_delay_seconds: 0, max_delay_seconds: 1 } });
    for (let i = 0; i < 10; i++) logs.log(decision(i));
    await rx.waitFor(() => rx.events().length > 0, 15_000);
    const attempts = rx.requests.filter((q) => q.events.length > 0);
    expect(attempts.map((q) => q.status)).toEqual([...Array<number>(failures).fill(500), 200]);
    const gaps = attempts.slice(1).map((q, k) => q.at - attempts[k]!.at);
    // OPA's delays after the n-th consecutive failure: 0, then 100 ms x 1.6^n, capped at max_delay (1 s), +-20% jitter.
    const nominal = [0, 160, 256, 409.6, 655.36, 1000, 1000];
    gaps.forEach((gap, k) => {
      expect(gap).toBeGreaterThanOrEqual(nominal[k]! * 0.8 - 10);
      expect(gap).toBeLessThanOrEqual(nominal[k]! * 1.2 + 250);
    });
    expect(gaps[3]!).toBeGreaterThan(gaps[1]!);
    expect(gaps[5]!).toBeGreaterThan(gaps[3]!);
    expect(ids(rx.events())).toEqual(range(0, 10));
    // The receiver has the events before the logger has read the 200: wait for the logger, then count.
    expect(await logs.flush(5_000)).toBe(true);
    expect(await counter(registry, 'kmesh_opa_decision_logs_uploads_total', { outcome: 'failure' })).toBe(failures);
    expect(await counter(registry, 'kmesh_opa_decision_logs_uploaded_events_total')).toBe(10);
  }, 30_000);

  it('uploads a full chunk at once with trigger: immediate', async () => {
    const rx = await receiver();
    const { logs } = uploading(rx.url, { reporting: { trigger: 'immediate', upload_size_limit_bytes: 2048 } });
    await new Promise((resolve) => setTimeout(resolve, 100)); // past the loop's first (empty) round
    for (let i = 0; i < 60; i++) logs.log(decision(i, { note: noise(200) }));
    // min_delay_seconds is 300: only the immediate trigger can have sent these.
    await rx.waitFor(() => rx.events().length > 0, 5000);
    expect(ids(rx.events())).toEqual(range(0, rx.events().length));
  });
});

describe('buffer limits', () => {
  it('the event buffer drops the oldest events beyond buffer_size_limit_events and counts them', async () => {
    const rx = await receiver();
    const { logs, registry } = uploading(rx.url, { reporting: { trigger: 'manual', buffer_type: 'event', buffer_size_limit_events: 5 } });
    for (let i = 0; i < 8; i++) logs.log(decision(i));
    expect(await logs.flush(5000)).toBe(true);
    expect(ids(rx.events())).toEqual(range(3, 8));
    expect(await counter(registry, 'kmesh_opa_decision_logs_dropped_total', { reason: 'buffer_limit' })).toBe(3);
  });

  it('the size buffer drops the oldest chunks beyond buffer_size_limit_bytes and counts their events', async () => {
    const rx = await receiver();
    const { logs, registry } = uploading(rx.url, { reporting: { trigger: 'manual', upload_size_limit_bytes: 500, buffer_size_limit_bytes: 1200 } });
    for (let i = 0; i < 40; i++) logs.log(decision(i, { note: noise(120) }));
    expect(await logs.flush(5000)).toBe(true);
    const received = ids(rx.events());
    const dropped = await counter(registry, 'kmesh_opa_decision_logs_dropped_total', { reason: 'buffer_limit' });
    expect(dropped).toBeGreaterThan(0);
    expect(received.length + dropped).toBe(40);
    expect(received).toEqual(range(40 - received.length, 40)); // the newest survive, in order
  });

  it('max_decisions_per_second drops what exceeds the rate', async () => {
    const rx = await receiver();
    const { logs, registry } = uploading(rx.url, { reporting: { max_decisions_per_second: 2 } });
    for (let i = 0; i < 10; i++) logs.log(decision(i));
    expect(await logs.flush(5000)).toBe(true);
    expect(ids(rx.events())).toEqual(range(0, 2));
    expect(await counter(registry, 'kmesh_opa_decision_logs_dropped_total', { reason: 'rate_limit' })).toBe(8);
  });

  it('an event larger than upload_size_limit_bytes on its own is dropped as an encoding failure', async () => {
    const rx = await receiver();
    const { logs, registry } = uploading(rx.url, { reporting: { upload_size_limit_bytes: 400 } });
    logs.log(decision(0));
    logs.log(decision(1, { note: noise(2000) }));
    logs.log(decision(2));
    expect(await logs.flush(5000)).toBe(true);
    expect(ids(rx.events())).toEqual(['d-0000', 'd-0002']);
    expect(await counter(registry, 'kmesh_opa_decision_logs_dropped_total', { reason: 'encoding_failure' })).toBe(1);
  });
});

describe('stop', () => {
  it('flushes everything pending, loses nothing, and refuses decisions after it', async () => {
    const rx = await receiver();
    const { logs, registry } = uploading(rx.url, {});
    for (let i = 0; i < 300; i++) logs.log(decision(i));
    expect(rx.requests.filter((q) => q.events.length > 0)).toEqual([]);
    expect(await logs.stop(5000)).toBe(true);
    expect(ids(rx.events())).toEqual(range(0, 300));
    logs.log(decision(300));
    expect(await counter(registry, 'kmesh_opa_decision_logs_dropped_total', { reason: 'stopped' })).toBe(1);
    expect(await counter(registry, 'kmesh_opa_decision_logs_dropped_total', { reason: 'shutdown' })).toBe(0);
  });

  it('gives up at the deadline while the service keeps failing, and counts what was not delivered', async () => {
    const rx = await receiver(() => 503);
    const { logs, registry } = uploading(rx.url, {});
    for (let i = 0; i < 7; i++) logs.log(decision(i));
    const started = Date.now();
    expect(await logs.stop(1500)).toBe(false);
    expect(Date.now() - started).toBeLessThan(3000);
    // OPA retries its shutdown flush every second.
    expect(rx.requests.filter((q) => q.events.length > 0).length).toBe(2);
    expect(await counter(registry, 'kmesh_opa_decision_logs_dropped_total', { reason: 'shutdown' })).toBe(7);
  });
});

describe('console', () => {
  it('writes one JSON line per event to the given sink, in order, while also uploading', async () => {
    const rx = await receiver();
    const written: string[] = [];
    const { logs } = uploading(rx.url, { console: true }, { console: { write: (s: string) => written.push(s) } });
    for (let i = 0; i < 50; i++) logs.log(decision(i));
    expect(await logs.stop(5000)).toBe(true);
    const lines = written.join('').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => (JSON.parse(l) as Record<string, unknown>).decision_id)).toEqual(range(0, 50));
    expect(ids(rx.events())).toEqual(range(0, 50));
  });
});

describe('the check path', () => {
  it('log() only queues: nothing is built or written until the event loop turns', async () => {
    const written: string[] = [];
    const logs = createDecisionLogs(parseDecisionLogsConfig({ console: true }, [])!, {
      labels: {},
      logger: quiet,
      registry: new Registry(),
      console: { write: (s: string) => written.push(s) },
    });
    logs.log(decision(1));
    expect(written).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(written.join('')).toContain('"decision_id":"d-0001"');
    await logs.stop(1000);
  });

  it('drops the oldest queued decisions beyond 10000 when the worker cannot keep up, and counts them', async () => {
    const registry = new Registry();
    const written: string[] = [];
    const logs = createDecisionLogs(parseDecisionLogsConfig({ console: true }, [])!, {
      labels: {},
      logger: quiet,
      registry,
      console: { write: (s: string) => written.push(s) },
    });
    for (let i = 0; i < 10002; i++) logs.log(decision(i));
    expect(await logs.stop(10_000)).toBe(true);
    expect(await counter(registry, 'kmesh_opa_decision_logs_dropped_total', { reason: 'queue_limit' })).toBe(2);
    const lines = written.join('').split('\n').filter(Boolean);
    expect(lines.length).toBe(10000);
    expect((JSON.parse(lines[0]!) as Record<string, unknown>).decision_id).toBe('d-0002');
  });
});

describe('mask and drop with a compiled policy', () => {
  // The policy the reference ran with: remove authorization, upsert x-secret, replace the result on
  // one path and drop another.
  const LOG_REGO = `package system.log

mask contains "/input/attributes/request/http/headers/authorization"

mask contains {"op": "upsert", "path": "/input/attributes/request/http/headers/x-secret", "value": "***"}

mask contains {"op": "upsert", "path": "/result", "value": {"masked": true}} if input.input.attributes.request.http.path == "/upsert-result"

drop if input.input.attributes.request.http.path == "/drop"
`;
  const POLICY_REGO = `package envoy.authz

default allow := false

allow if input.attributes.request.http.method == "GET"
`;
  let evaluateMaskDrop: (path: string, event: object) => unknown;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-dl-'));
    writeFileSync(join(dir, 'log.rego'), LOG_REGO);
    writeFileSync(join(dir, 'policy.rego'), POLICY_REGO);
    const bundle = buildBundle([join(dir, 'policy.rego'), join(dir, 'log.rego')], ['envoy/authz/allow', 'system/log']);
    const active = loadPolicyBytes(
      readFileSync(bundle),
      { decision: 'envoy/authz/allow', maxMemoryPages: 256, regoVersion: 'auto', compiler: undefined, cacheDir: dir },
      'test bundle',
    );
    evaluateMaskDrop = (p, ev) => active.policy.evaluatePath(p, ev).result;
  });

  function request(decisionId: string, path: string, duration: number): DecisionRecord {
    return {
      decisionId,
      version: 'v3',
      input: {
        attributes: { request: { http: { headers: { authorization: 'Bearer x', 'x-secret': 's' }, method: 'GET', path } } },
        parsed_body: null,
        parsed_path: [path.slice(1)],
        parsed_query: {},
        truncated_body: false,
        version: { ext_authz: 'v3', encoding: 'protojson' },
      },
      result: true,
      allowed: true,
      revision: '',
      durationSeconds: duration,
    };
  }

  it('masks and drops as the reference did, on the console and in uploads', async () => {
    const rx = await receiver();
    const written: string[] = [];
    const { logs } = uploading(
      rx.url,
      { console: true },
      {
        labels: { id: 'fd0168fd-c53b-471b-83b5-e76a7a90dbe9', team: 'a', version: '1.19.1' },
        console: { write: (s: string) => written.push(s) },
        evaluateMaskDrop,
        now: () => new Date('2026-11-23T23:47:15.102Z'),
      },
    );
    logs.log(request('0f9cfc6a-68c7-4c96-bcc0-f568e4d02c83', '/', 417340e-9));
    logs.log(request('f61140d2-8a2b-43c9-a258-1c49e6d59c36', '/drop', 1e-4));
    logs.log(request('316a49ab-ef33-408d-ab94-ebce2ec092fe', '/upsert-result', 168971e-9));
    expect(await logs.stop(5000)).toBe(true);

    // The reference's console lines (timestamps and times from the clock given here, eval/compile timers taken out).
    const expected = [
      '{"decision_id":"0f9cfc6a-68c7-4c96-bcc0-f568e4d02c83","erased":["/input/attributes/request/http/headers/authorization"],"input":{"attributes":{"request":{"http":{"headers":{"x-secret":"***"},"method":"GET","path":"/"}}},"parsed_body":null,"parsed_path":[""],"parsed_query":{},"truncated_body":false,"version":[[{"type":"string","value":"encoding"},{"type":"string","value":"protojson"}],[{"type":"string","value":"ext_authz"},{"type":"string","value":"v3"}]]},"labels":{"id":"fd0168fd-c53b-471b-83b5-e76a7a90dbe9","team":"a","version":"1.19.1"},"level":"info","masked":["/input/attributes/request/http/headers/x-secret"],"metrics":{"timer_server_handler_ns":417340},"msg":"Decision Log","path":"envoy/authz/allow","result":true,"time":"2026-11-23T23:47:15Z","timestamp":"2026-11-23T23:47:15.102Z","type":"openpolicyagent.org/decision_logs"}',
      '{"decision_id":"316a49ab-ef33-408d-ab94-ebce2ec092fe","erased":["/input/attributes/request/http/headers/authorization"],"input":{"attributes":{"request":{"http":{"headers":{"x-secret":"***"},"method":"GET","path":"/upsert-result"}}},"parsed_body":null,"parsed_path":["upsert-result"],"parsed_query":{},"truncated_body":false,"version":[[{"type":"string","value":"encoding"},{"type":"string","value":"protojson"}],[{"type":"string","value":"ext_authz"},{"type":"string","value":"v3"}]]},"labels":{"id":"fd0168fd-c53b-471b-83b5-e76a7a90dbe9","team":"a","version":"1.19.1"},"level":"info","masked":["/input/attributes/request/http/headers/x-secret","/result"],"metrics":{"timer_server_handler_ns":168971},"msg":"Decision Log","path":"envoy/authz/allow","result":{"masked":true},"time":"2026-11-23T23:47:15Z","timestamp":"2026-11-23T23:47:15.102Z","type":"openpolicyagent.org/decision_logs"}',
    ];
    expect(written.join('').split('\n').filter(Boolean)).toEqual(expected);

    const uploaded = rx.events();
    expect(ids(uploaded)).toEqual(['0f9cfc6a-68c7-4c96-bcc0-f568e4d02c83', '316a49ab-ef33-408d-ab94-ebce2ec092fe']);
    for (const [k, line] of expected.entries()) {
      const { level: _l, msg: _m, time: _t, type: _y, ...fields } = JSON.parse(line) as Record<string, unknown>;
      expect(uploaded[k]).toEqual(fields);
    }
  });

  it('logs nothing for a decision when the mask policy returns a malformed rule (as the reference: "mask op is not supported")', async () => {
    const written: string[] = [];
    const errors: string[] = [];
    const registry = new Registry();
    const logs = createDecisionLogs(parseDecisionLogsConfig({ console: true }, [])!, {
      labels: {},
      logger: createLogger('error', { write: (l: string) => errors.push(l) }),
      registry,
      console: { write: (s: string) => written.push(s) },
      evaluateMaskDrop: (p) => (p === 'system/log/mask' ? [{ path: '/input/attributes' }] : undefined),
    });
    logs.log(decision(1));
    expect(await logs.stop(1000)).toBe(true);
    expect(written).toEqual([]);
    expect(errors.join('')).toContain('Log event masking failed: mask op is not supported: .');
    expect(await counter(registry, 'kmesh_opa_decision_logs_dropped_total', { reason: 'policy_error' })).toBe(1);
  });
});

describe('service client', () => {
  it('re-reads a bearer token_path for every request and adds request headers after the configured ones', async () => {
    const rx = await receiver();
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-token-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 't1\n');
    const services = createServiceClients(
      parseServices({ s: { url: rx.url, headers: { 'X-Env': 'prod', 'Content-Type': 'text/plain' }, credentials: { bearer: { token_path: tokenFile, scheme: 'Token' } } } }),
    );
    cleanups.push(() => services.close());
    await services.request('s', { method: 'GET', path: '/a' });
    writeFileSync(tokenFile, 't2');
    await services.request('s', { method: 'POST', path: 'b/', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(rx.requests.map((q) => [q.method, q.url, q.headers.authorization])).toEqual([
      ['GET', '/a', 'Token t1'],
      ['POST', '/b', 'Token t2'],
    ]);
    expect(rx.requests[1]?.headers['x-env']).toBe('prod');
    // Like OPA's client: the configured header is set, the request's own is added next to it.
    const contentTypes = rx.requests[1]!.rawHeaders.filter((_v, k, all) => k % 2 === 1 && all[k - 1]!.toLowerCase() === 'content-type');
    expect(contentTypes).toEqual(['text/plain', 'application/json']);
  });

  it('fails a request whose response headers take longer than response_header_timeout_seconds', async () => {
    const slow = createHttpServer((_req, res) => setTimeout(() => res.end(), 2500));
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    });
    const { port } = slow.address() as AddressInfo;
    const services = createServiceClients(parseServices({ s: { url: `http://127.0.0.1:${port}`, response_header_timeout_seconds: 1 } }));
    cleanups.push(() => services.close());
    const started = Date.now();
    await expect(services.request('s', { method: 'GET', path: '/' })).rejects.toThrow(/timeout/i);
    expect(Date.now() - started).toBeLessThan(2400);
  });

  it('verifies the server with tls.ca_cert and presents credentials.client_tls', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-tls-'));
    const cert = (name: string, subject: string, ext: string[]) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', subject, ...ext, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'pipe' });
      return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    };
    const server = cert('server', '/CN=127.0.0.1', ['-addext', 'subjectAltName=IP:127.0.0.1']);
    const client = cert('client', '/CN=kmesh-opa-client', []);
    const https = createHttpsServer({ key: readFileSync(server.key), cert: readFileSync(server.cert), requestCert: true, rejectUnauthorized: true, ca: [readFileSync(client.cert)] });
    const peers: string[] = [];
    https.on('request', (req: IncomingMessage) => peers.push((req.socket as TLSSocket).getPeerCertificate().subject.CN as string));
    const rx = await receiver(undefined, https);

    const trusted = createServiceClients(
      parseServices({ s: { url: rx.url, tls: { ca_cert: server.cert }, credentials: { client_tls: { cert: client.cert, private_key: client.key } } } }),
    );
    const untrusted = createServiceClients(parseServices({ s: { url: rx.url, credentials: { client_tls: { cert: client.cert, private_key: client.key } } } }));
    cleanups.push(() => trusted.close(), () => untrusted.close());
    expect((await trusted.request('s', { method: 'GET', path: '/x' })).status).toBe(200);
    expect(peers).toEqual(['kmesh-opa-client']);
    await expect(untrusted.request('s', { method: 'GET', path: '/x' })).rejects.toThrow(/self[- ]signed/i);
  });
});
