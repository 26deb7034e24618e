// The agent as kuma-dp runs it: REST API, diagnostics, metrics and decision logs of a real process.
import { createServer, type IncomingMessage } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../helpers/seed.js';
import { envoyClient, httpRequest, structToJson, type EnvoyClient } from '../helpers/envoy-client.js';
import { startAgent, type AgentProcess } from '../helpers/tools.js';

const allowReq = () => httpRequest({ method: 'GET', path: '/', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
const denyReq = () => httpRequest({ method: 'GET', path: '/' });

function metricValue(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('REST API, diagnostics and metrics of a running agent', () => {
  let agent: AgentProcess;
  let client: EnvoyClient;
  beforeAll(async () => {
    agent = await startAgent(['--opa-set', 'decision_logs.console=true']);
    client = envoyClient(agent.address);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop();
  });

  it('GET/POST /v1/data evaluates the active policy as OPA does', async () => {
    const post = await fetch(`${agent.restUrl}/v1/data/envoy/authz/allow`, {
      method: 'POST',
      body: JSON.stringify({ input: { attributes: { request: { http: { method: 'GET', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } } } } } }),
    });
    expect(post.status).toBe(200);
    expect(((await post.json()) as { result: unknown }).result).toBe(true);
    const get = await fetch(`${agent.restUrl}/v1/data/envoy/authz/allow`);
    expect(await get.json()).toMatchObject({ result: false });
    const missing = await fetch(`${agent.restUrl}/v1/data/envoy/authz/nothing_here`);
    expect(missing.status).toBe(200);
    expect(await missing.json()).not.toHaveProperty('result');
  });

  it('with decision logs on, REST answers carry a decision_id and the decision is logged under its path', async () => {
    const res = (await (await fetch(`${agent.restUrl}/v1/data/envoy/authz/allow`)).json()) as { decision_id: string };
    expect(res.decision_id).toMatch(/^[0-9a-f-]{36}$/);
    await expect.poll(() => agent.stdout(), { timeout: 5000 }).toContain(res.decision_id);
    const line = agent.stdout().split('\n').find((l) => l.includes(res.decision_id))!;
    expect(JSON.parse(line)).toMatchObject({ decision_id: res.decision_id, path: 'envoy/authz/allow', result: false });
  });

  it('diagnostics serves health and metrics only (bad input: /v1/data and /v1/policies there are 404)', async () => {
    expect((await fetch(`${agent.diagnosticsUrl}/health`)).status).toBe(200);
    expect((await fetch(`${agent.diagnosticsUrl}/health/live`)).status).toBe(200);
    expect((await fetch(`${agent.diagnosticsUrl}/health/ready`)).status).toBe(200);
    expect((await fetch(`${agent.diagnosticsUrl}/metrics`)).status).toBe(200);
    for (const path of ['/v1/data/envoy/authz/allow', '/v1/policies', '/v1/config', '/']) {
      expect((await fetch(`${agent.diagnosticsUrl}${path}`)).status, path).toBe(404);
    }
  });

  it('metric names match the Go plugin and the counts move with checks', async () => {
    const before = await (await fetch(`${agent.diagnosticsUrl}/metrics`)).text();
    await client.check(allowReq());
    await client.check(denyReq());
    await client.check(denyReq());
    const after = await (await fetch(`${agent.restUrl}/metrics`)).text();
    expect(metricValue(after, 'kmesh_opa_decisions_total', 'decision="allow"') - metricValue(before, 'kmesh_opa_decisions_total', 'decision="allow"')).toBe(1);
    expect(metricValue(after, 'kmesh_opa_decisions_total', 'decision="deny"') - metricValue(before, 'kmesh_opa_decisions_total', 'decision="deny"')).toBe(2);
    expect(metricValue(after, 'grpc_request_duration_seconds_count', 'handler="check"') - metricValue(before, 'grpc_request_duration_seconds_count', 'handler="check"')).toBe(3);
    expect(after).toMatch(/^# TYPE error_counter counter$/m);
    expect(after).toMatch(/^http_request_duration_seconds_count\{.*handler="v1\/data".*\} \d+$/m);
    expect(after).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(after).toMatch(/^kmesh_opa_policy_loads_total\{outcome="success"\} 1$/m);
    // The embedded default policy is Rego compiled here: its revision is the hash of its source.
    expect(after).toMatch(/^kmesh_opa_policy_revision_info\{revision="sha256:[0-9a-f]{16}"\} 1$/m);
  });

  it('console decision logs: one JSON line on stdout per decision, with the decision_id Envoy got', async () => {
    const res = await client.check(denyReq());
    const id = structToJson(res.dynamic_metadata).decision_id as string;
    await expect.poll(() => agent.stdout(), { timeout: 5000 }).toContain(id);
    const line = agent.stdout().split('\n').find((l) => l.includes(id))!;
    const event = JSON.parse(line) as Record<string, unknown>;
    expect(event).toMatchObject({ decision_id: id, path: 'envoy/authz/allow', result: false, msg: 'Decision Log', type: 'openpolicyagent.org/decision_logs' });
    expect((event.labels as Record<string, string>).id).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.input).toMatchObject({ attributes: { request: { http: { method: 'GET' } } } });
  });
});

describe('decision log upload to a real HTTP receiver', () => {
  it('a flush on SIGTERM delivers every decision, gzipped JSON arrays at POST /logs', async () => {
    const received: Record<string, unknown>[] = [];
    const requests: { path: string; encoding: string | undefined }[] = [];
    const receiver = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        requests.push({ path: req.url ?? '', encoding: req.headers['content-encoding'] });
        received.push(...(JSON.parse(gunzipSync(Buffer.concat(chunks)).toString()) as Record<string, unknown>[]));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const port = (receiver.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-dl-'));
    const config = join(dir, 'opa.yaml');
    // Delays far longer than the test: only the shutdown flush can deliver.
    writeFileSync(
      config,
      [
        'services:',
        '  logsink:',
        `    url: http://127.0.0.1:${port}`,
        'decision_logs:',
        '  service: logsink',
        '  reporting:',
        '    min_delay_seconds: 300',
        '    max_delay_seconds: 600',
      ].join('\n'),
    );
    const agent = await startAgent(['--opa-config-path', config]);
    const client = envoyClient(agent.address);
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const res = await client.check(i % 2 ? allowReq() : denyReq());
        ids.add(structToJson(res.dynamic_metadata).decision_id as string);
      }
      expect(received).toHaveLength(0);
      client.close();
      expect(await agent.stop('SIGTERM')).toBe(0);
      expect(new Set(received.map((e) => e.decision_id as string))).toEqual(ids);
      expect(requests.every((r) => r.path === '/logs' && r.encoding === 'gzip')).toBe(true);
    } finally {
      client.close();
      await agent.stop();
      receiver.close();
    }
  });
});
