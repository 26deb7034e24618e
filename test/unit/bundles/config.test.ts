// The `bundles` and deprecated `bundle` sections, with OPA 1.19.1's defaults and refusals
// (plugins/bundle/config.go, download/config.go).
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BundleConfigError, bundlesFromOpaConfig, parseBundlesConfig, parseLegacyBundleConfig } from '../../../src/bundles/config.js';
import { parseKeys } from '../../../src/bundles/keys.js';

const SERVICES = ['acmecorp', 'other'];

describe('parseBundlesConfig', () => {
  it("fills OPA's defaults: first service, bundles/<name>, 60-120 s polling, 1 GiB, periodic, no persistence", () => {
    expect(parseBundlesConfig({ authz: {} }, SERVICES)).toEqual([
      {
        name: 'authz',
        service: 'acmecorp',
        resource: 'bundles/authz',
        trigger: 'periodic',
        polling: { minDelaySeconds: 60, maxDelaySeconds: 120 },
        persist: false,
        persistDirectory: resolve('.opa'),
        sizeLimitBytes: 1024 * 1024 * 1024,
        ignoredKeys: [],
      },
    ]);
  });

  it('keeps every key given, signing as data for the verifier', () => {
    const [b] = parseBundlesConfig(
      {
        authz: {
          service: 'other',
          resource: '/configuration/authz/bundle.tar.gz',
          trigger: 'manual',
          persist: true,
          size_limit_bytes: 2048,
          polling: { min_delay_seconds: 5, max_delay_seconds: 10, long_polling_timeout_seconds: 30 },
          signing: { keyid: 'global_key', scope: 'write', exclude_files: ['.signatures.json.bak'] },
          unknown: 1,
        },
      },
      SERVICES,
      { persistenceDirectory: '/var/lib/opa', keys: parseKeys({ global_key: { key: 'secret', algorithm: 'HS256' } }) },
    );
    expect(b).toMatchObject({
      service: 'other',
      resource: '/configuration/authz/bundle.tar.gz',
      trigger: 'manual',
      persist: true,
      persistDirectory: '/var/lib/opa',
      sizeLimitBytes: 2048,
      polling: { minDelaySeconds: 5, maxDelaySeconds: 10, longPollingTimeoutSeconds: 30 },
      signing: { keyid: 'global_key', scope: 'write', exclude_files: ['.signatures.json.bak'] },
      ignoredKeys: ['bundles.authz.unknown'],
    });
  });

  it('refuses a signing keyid that names no configured key (keyid: missing)', () => {
    expect(() => parseBundlesConfig({ authz: { signing: { keyid: 'missing' } } }, SERVICES)).toThrow('key id missing not found');
  });

  it('verifies with an empty signing configuration when keys exist but the bundle names no signing section, as OPA', () => {
    const [b] = parseBundlesConfig({ authz: {} }, SERVICES, { keys: parseKeys({ k: { key: 'secret', algorithm: 'HS256' } }) });
    expect(b!.signing).toEqual({});
  });

  it('skips a bundle whose source is null, as OPA does', () => {
    expect(parseBundlesConfig({ authz: null }, SERVICES)).toEqual([]);
  });

  it('takes a size_limit_bytes of 0 or less as the default', () => {
    expect(parseBundlesConfig({ a: { size_limit_bytes: -5 } }, SERVICES)[0]!.sizeLimitBytes).toBe(1024 ** 3);
  });

  const bad: Array<[string, unknown, readonly string[], RegExp]> = [
    ['an unknown service name', { a: { service: 'nope' } }, SERVICES, /^bundles\.a\.service: service name "nope" not found/],
    ['no services at all', { a: {} }, [], /^bundles\.a\.service: service name "" not found \(no services are configured\)/],
    ['min_delay_seconds without max', { a: { polling: { min_delay_seconds: 1 } } }, SERVICES, /bundles\.a\.polling\.max_delay_seconds must be set/],
    ['max_delay_seconds without min', { a: { polling: { max_delay_seconds: 1 } } }, SERVICES, /bundles\.a\.polling\.min_delay_seconds must be set/],
    ['max below min', { a: { polling: { min_delay_seconds: 10, max_delay_seconds: 5 } } }, SERVICES, /max polling delay must be >= min polling delay/],
    ['long_polling_timeout_seconds of 0', { a: { polling: { long_polling_timeout_seconds: 0 } } }, SERVICES, /'long_polling_timeout_seconds' must be at least 1/],
    ['trigger "sometimes"', { a: { trigger: 'sometimes' } }, SERVICES, /bundles\.a\.trigger: invalid trigger mode "sometimes" \(want "periodic" or "manual"\)/],
    ['persist as a string', { a: { persist: 'yes' } }, SERVICES, /bundles\.a\.persist must be true or false/],
    ['a file:// resource', { a: { resource: 'file:///tmp/b.tar.gz' } }, SERVICES, /file:\/\/ bundles are not supported/],
    ['bundles as a list', [{ name: 'a' }], SERVICES, /^bundles must be a mapping/],
  ];
  it.each(bad)('refuses %s, naming the key', (_what, doc, services, message) => {
    expect(() => parseBundlesConfig(doc, services)).toThrow(BundleConfigError);
    expect(() => parseBundlesConfig(doc, services)).toThrow(message);
  });
});

describe('the deprecated bundle section', () => {
  it('serves <prefix>/<name> (prefix bundles by default) and wins over bundles, as in OPA', () => {
    expect(parseLegacyBundleConfig({ name: 'authz' }, SERVICES)).toMatchObject({ name: 'authz', service: 'acmecorp', resource: 'bundles/authz', persist: false });
    expect(parseLegacyBundleConfig({ name: 'authz', prefix: '/v1/b/' }, SERVICES)!.resource).toBe('v1/b/authz');
    const chosen = bundlesFromOpaConfig({ bundle: { name: 'old' }, bundles: { new: {} } }, SERVICES);
    expect(chosen.usesDeprecatedBundle).toBe(true);
    expect(chosen.bundles.map((b) => b.name)).toEqual(['old']);
  });

  it('refuses a bundle section without a name (name: "")', () => {
    expect(() => parseLegacyBundleConfig({ name: '' }, SERVICES)).toThrow(/bundle\.name must be set/);
  });
});
