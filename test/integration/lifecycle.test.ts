// Agent lifecycle: gRPC health states, signals, and start-up failures that must end with one clear line.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent.js';
import { resolveSettings } from '../../src/config/settings.js';
import { loadPolicyFiles } from '../../src/engine/load.js';
import { createLogger } from '../../src/log.js';
import { buildBundle, runCli, startAgent } from '../helpers/tools.js';

type HealthClient = grpc.Client & {
  Check(req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void): void;
  Watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

function healthClient(address: string): HealthClient {
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => HealthClient } } };
  };
  return new def.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
}

const healthOf = (client: HealthClient, service = '') =>
  new Promise<string>((resolve, reject) => client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))));

const LOOPBACK = ['--opa-ext-authz-addr', '127.0.0.1:0', '--opa-addr', '127.0.0.1:0', '--opa-diagnostic-addr', '127.0.0.1:0'];
const quiet = createLogger('error', { write: () => true });

describe('gRPC health (grpc.health.v1) on the ext_authz port', () => {
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  it('is NOT_SERVING before a policy is loaded, SERVING after, NOT_SERVING during shutdown (Check and Watch)', async () => {
    const { settings } = resolveSettings([...LOOPBACK, '--shutdown-grace-seconds', '5'], {});
    agent = new Agent(settings, { logger: quiet, env: process.env });
    const port = (await agent.start()).grpc;
    const client = healthClient(`127.0.0.1:${port}`);
    expect(await healthOf(client)).toBe('NOT_SERVING');
    expect(await healthOf(client, 'envoy.service.auth.v3.Authorization')).toBe('NOT_SERVING');

    const seen: string[] = [];
    const watch = client.Watch({ service: '' });
    watch.on('data', (m: { status: string }) => seen.push(m.status));
    watch.on('error', () => undefined);

    agent.setPolicy(await loadPolicyFiles({ paths: [buildBundle(['echo.rego'])] }, agent.engineOptions));
    expect(await healthOf(client)).toBe('SERVING');
    expect(await healthOf(client, 'envoy.service.auth.v2.Authorization')).toBe('SERVING');

    const stopped = agent.stop();
    agent = undefined;
    await stopped;
    await new Promise((r) => setTimeout(r, 100));
    expect(seen[0]).toBe('NOT_SERVING');
    expect(seen).toContain('SERVING');
    expect(seen[seen.length - 1]).toBe('NOT_SERVING');
    watch.cancel();
    client.close();
  });

  it('unknown services are NOT_FOUND', async () => {
    const { settings } = resolveSettings(LOOPBACK, {});
    agent = new Agent(settings, { logger: quiet, env: process.env });
    const client = healthClient(`127.0.0.1:${(await agent.start()).grpc}`);
    await expect(healthOf(client, 'no.such.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    client.close();
  });
});

describe('process lifecycle', () => {
  it('SIGTERM and SIGINT exit 0', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const agent = await startAgent([buildBundle(['echo.rego'])]);
      expect(await agent.stop(signal)).toBe(0);
      expect(agent.stderr()).toContain(`"signal":"${signal}"`);
    }
  });

  it('KMESH_OPA_ENABLED=false logs one line and exits 0 without opening a port', async () => {
    const res = await runCli(['run', '--opa-ext-authz-addr', '127.0.0.1:1'], { KMESH_OPA_ENABLED: 'false' });
    expect(res.code).toBe(0);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).msg).toMatch(/disabled/);
  });

  it('bad input: a port already in use gives one line and a non-zero exit', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const res = await runCli(['run', '--opa-ext-authz-addr', `127.0.0.1:${port}`, buildBundle(['echo.rego'])]);
      expect(res.code).not.toBe(0);
      const errLines = res.stderr.split('\n').filter((l) => l.startsWith('kmesh-opa:'));
      expect(errLines).toHaveLength(1);
      expect(errLines[0]).toMatch(new RegExp(`cannot listen on 127.0.0.1:${port}.*EADDRINUSE|cannot listen on 127.0.0.1:${port}`));
    } finally {
      blocker.close();
    }
  });

  it('bad input: an unreadable config file gives one line and exit 1', async () => {
    const res = await runCli(['run', '--opa-config-path', '/nonexistent/kmesh.yaml']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe('kmesh-opa: cannot read config file /nonexistent/kmesh.yaml: ENOENT');
  });

  const INVALID_DATAPLANE = join(mkdtempSync(join(tmpdir(), 'kmesh-opa-dp-')), 'dataplane.yaml');
  writeFileSync(INVALID_DATAPLANE, 'type: Dataplane\nmesh: default\nname: web\nnetworking: {}\n');
  it.each([
    [['--dataplane-tags', 'bad'], 'kmesh-opa: cannot use dataplane-tags: invalid tag "bad" in "bad": expected name=value'],
    [['--dataplane-file', '/nonexistent/dp.yaml'], "kmesh-opa: cannot use dataplane-file: ENOENT: no such file or directory, open '/nonexistent/dp.yaml'"],
    [['--dataplane-tags', 'a=b', '--dataplane-file', '/tmp/dp.yaml'], 'kmesh-opa: cannot use dataplane-file: give either --dataplane-file or --dataplane-tags, not both'],
    [['--dataplane-file', INVALID_DATAPLANE], `kmesh-opa: cannot use dataplane-file: ${INVALID_DATAPLANE}: invalid Dataplane: networking: has to contain at least one inbound interface or gateway; networking.address: address has to be valid IP address or domain name`],
    [['--resources-dir', '/nonexistent/resources'], "kmesh-opa: cannot use resources-dir: ENOENT: no such file or directory, scandir '/nonexistent/resources'"],
    [['--data-dir', '/etc/passwd/kmesh'], "kmesh-opa: cannot use data-dir: cannot read the persisted resources file /etc/passwd/kmesh/resources.json: ENOTDIR: not a directory, open '/etc/passwd/kmesh/resources.json'"],
  ])('bad input: %j gives one line naming the setting and exit 1, with no port left open', async (flags, line) => {
    const res = await runCli(['run', '--opa-addr', '127.0.0.1:0', '--opa-ext-authz-addr', '127.0.0.1:0', '--opa-diagnostic-addr', '127.0.0.1:0', ...flags]);
    expect(res.code).toBe(1);
    expect(res.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'))).toEqual([line]);
    expect(res.stderr).not.toContain('listening');
  });

  it('bad input: a corrupt bundle (random bytes behind a gzip header) gives one line and exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-bad-'));
    const path = join(dir, 'bundle.tar.gz');
    writeFileSync(path, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from('not really gzip')]));
    const res = await runCli(['run', '--opa-ext-authz-addr', '127.0.0.1:0', path]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toMatch(/^kmesh-opa: .*bundle\.tar\.gz: bundle is not valid gzip/);
  });
});
