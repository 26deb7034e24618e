// Discovery bundles built by the real `opa build`; the expected configuration is what `opa eval` answers
// for the same bundle and query (OPA evaluates data.<decision> the same way), the rules and messages are
// those of OPA 1.19's plugins/discovery.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { discoveredConfig, mergeDiscovered, parseDiscoveryConfig } from '../../../src/bundles/discovery.js';
import { ROOT, opaBinary } from '../../helpers/tools.js';

// The seed page's agent configuration.
const BOOT = {
  services: { acmecorp: { url: 'https://example.com/control-plane-api/v1', credentials: { bearer: { token: 'bGFza2RqZmxha3NkamZsa2Fqc2Rsa2ZqYWtsc2RqZmtramRmYWxkc2tm' } } } },
  discovery: { name: 'example', resource: '/configuration/example/discovery' },
};

const DISCOVERY_REGO = `package example

bundles["authz"] := {"service": "acmecorp", "resource": "bundles/authz.tar.gz", "polling": {"min_delay_seconds": data.settings.min, "max_delay_seconds": 20}}

decision_logs := {"service": "acmecorp", "reporting": {"min_delay_seconds": 5, "max_delay_seconds": 10}}

labels := {"region": "\${KMESH_TEST_REGION}", "zone": "\${KMESH_TEST_UNSET_VARIABLE}"}
`;

let dir: string;
const engine = () => ({ compiler: opaBinary(), cacheDir: join(ROOT, '.cache', 'test-compile') });

function build(files: Record<string, string>): { bundle: Uint8Array; path: string } {
  const work = mkdtempSync(join(dir, 'd-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(work, 'src', name, '..'), { recursive: true });
    writeFileSync(join(work, 'src', name), text);
  }
  const out = join(work, 'discovery.tar.gz');
  execFileSync(opaBinary(), ['build', '-o', out, join(work, 'src')], { stdio: 'pipe' });
  return { bundle: readFileSync(out), path: out };
}

function opaEval(bundlePath: string, query: string): unknown {
  const out = JSON.parse(execFileSync(opaBinary(), ['eval', '-b', bundlePath, '-f', 'json', query], { env: { ...process.env, KMESH_TEST_REGION: 'eu' } }).toString()) as { result?: { expressions: { value: unknown }[] }[] };
  return out.result?.[0]?.expressions[0]?.value;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-discovery-'));
});

describe('parseDiscoveryConfig', () => {
  it("reads the seed page's acmecorp example: one service, decision defaults to the name", () => {
    expect(parseDiscoveryConfig(BOOT.discovery, ['acmecorp'])).toEqual({
      name: 'example',
      resource: '/configuration/example/discovery',
      service: 'acmecorp',
      decision: 'example',
      polling: { minDelaySeconds: 60, maxDelaySeconds: 120 },
      trigger: 'periodic',
      persist: false,
    });
  });

  it('builds the resource from prefix and name when resource is absent; decision overrides the name', () => {
    const cfg = parseDiscoveryConfig({ name: '/disco/', decision: 'a/b' }, ['s']);
    expect(cfg?.resource).toBe('bundles/disco');
    expect(cfg?.decision).toBe('a/b');
  });

  it('refuses a section without resource or name, an unknown service, an ambiguous service, and a keyid without key', () => {
    expect(() => parseDiscoveryConfig({ service: 'acmecorp' }, ['acmecorp'])).toThrow('missing required discovery.resource field');
    expect(() => parseDiscoveryConfig({ resource: 'x', service: 'nope' }, ['acmecorp'])).toThrow('invalid configuration for discovery service: service name "nope" not found');
    expect(() => parseDiscoveryConfig({ resource: 'x' }, ['a', 'b'])).toThrow('invalid configuration for discovery service: more than one service is defined');
    expect(() => parseDiscoveryConfig({ resource: 'x', signing: { keyid: 'k' } }, ['a'])).toThrow('invalid configuration for discovery service: key id k not found');
  });
});

describe('discoveredConfig', () => {
  it('evaluates the Rego of an opa-built discovery bundle as opa eval does (bundles + decision_logs for acmecorp)', async () => {
    const { bundle, path } = build({ 'discovery.rego': DISCOVERY_REGO, 'settings/data.json': '{"min": 10}' });
    const cfg = parseDiscoveryConfig(BOOT.discovery, ['acmecorp'])!;
    const got = await discoveredConfig(bundle, cfg, engine(), { KMESH_TEST_REGION: 'eu' });
    const reference = opaEval(path, 'data.example') as Record<string, unknown>;
    // OPA substitutes set variables and keeps unset references as written.
    (reference.labels as Record<string, string>).region = 'eu';
    expect(got).toEqual(reference);
    expect(got.bundles).toEqual({ authz: { service: 'acmecorp', resource: 'bundles/authz.tar.gz', polling: { min_delay_seconds: 10, max_delay_seconds: 20 } } });
    expect(got.labels).toEqual({ region: 'eu', zone: '${KMESH_TEST_UNSET_VARIABLE}' });
  }, 120_000);

  it('answers a data-only bundle from its data', async () => {
    const { bundle } = build({ 'config/data.json': '{"bundles": {"b": {"resource": "x"}}}' });
    const cfg = parseDiscoveryConfig({ resource: 'r', decision: 'config' }, ['acmecorp'])!;
    expect(await discoveredConfig(bundle, cfg, engine())).toEqual({ bundles: { b: { resource: 'x' } } });
  });

  it('refuses a decision the bundle leaves undefined with OPA\'s message', async () => {
    const { bundle } = build({ 'config/data.json': '{}' });
    const cfg = parseDiscoveryConfig({ resource: 'r', decision: 'missing' }, ['acmecorp'])!;
    await expect(discoveredConfig(bundle, cfg, engine())).rejects.toThrow('undefined configuration');
  });
});

describe('mergeDiscovered', () => {
  it('keeps boot keys over discovered ones and lists the overridden keys', () => {
    const discovered = { services: BOOT.services, labels: { team: 'x', env: 'dev' }, decision_logs: { console: true } };
    const { config, overriddenKeys } = mergeDiscovered({ ...BOOT, labels: { env: 'prod' } }, discovered);
    expect(config).toEqual({ services: BOOT.services, discovery: BOOT.discovery, labels: { team: 'x', env: 'prod' }, decision_logs: { console: true } });
    expect(overriddenKeys).toEqual(['labels.env']);
  });

  it('refuses a discovered configuration that changes the discovery service', () => {
    const discovered = { services: { acmecorp: { url: 'https://evil.example.com' } } };
    expect(() => mergeDiscovered(BOOT, discovered)).toThrow('updates to the discovery service are not allowed');
  });

  it('refuses a discovered configuration that changes a boot key', () => {
    const boot = { ...BOOT, keys: { k: { key: 'secret', algorithm: 'HS256' } } };
    expect(() => mergeDiscovered(boot, { keys: { k: { key: 'other', algorithm: 'HS256' } } })).toThrow('updates to keys specified in the boot configuration are not allowed');
    expect(mergeDiscovered(boot, { keys: { k2: { key: 'other', algorithm: 'HS256' } } }).config.keys).toEqual({ k2: { key: 'other', algorithm: 'HS256' }, k: { key: 'secret', algorithm: 'HS256' } });
  });
});
