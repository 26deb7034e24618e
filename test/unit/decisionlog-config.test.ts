// decision_logs and services sections, with the defaults and refusals of OPA 1.19.1's decision log
// plugin (plugins/logs ParseConfig) and REST client configuration.
import { describe, expect, it } from 'vitest';
import { parseDecisionLogsConfig } from '../../src/decisionlog/index.js';
import { parseServices } from '../../src/services/index.js';

describe('decision_logs', () => {
  it('is off without a section, and off for an empty section when no service is configured', () => {
    expect(parseDecisionLogsConfig(undefined, ['s'])).toBeUndefined();
    expect(parseDecisionLogsConfig({}, [])).toBeUndefined();
  });

  it('console only: OPA defaults (size buffer, 32 KiB uploads, 300..600 s, /logs, system/log mask and drop)', () => {
    expect(parseDecisionLogsConfig({ console: true }, [])).toEqual({
      console: true,
      resource: '/logs',
      reporting: {
        bufferType: 'size',
        bufferSizeLimitBytes: 0,
        bufferSizeLimitEvents: 10000,
        uploadSizeLimitBytes: 32768,
        minDelaySeconds: 300,
        maxDelaySeconds: 600,
        trigger: 'periodic',
      },
      maskDecision: 'system/log/mask',
      dropDecision: 'system/log/drop',
      warnings: [],
    });
  });

  it('uploads to the first service when none is named and the console is off, as OPA does', () => {
    expect(parseDecisionLogsConfig({}, ['first', 'second'])?.service).toBe('first');
    // With the console on, OPA cannot tell whether uploads were wanted, and does not upload.
    expect(parseDecisionLogsConfig({ console: true }, ['first'])?.service).toBeUndefined();
  });

  it('puts partition_name under /logs, and otherwise takes resource as given', () => {
    expect(parseDecisionLogsConfig({ service: 's', partition_name: 'p1' }, ['s'])?.resource).toBe('/logs/p1');
    expect(parseDecisionLogsConfig({ service: 's', resource: '/custom/path' }, ['s'])?.resource).toBe('/custom/path');
  });

  it('takes mask_decision and drop_decision with or without the leading slash', () => {
    const c = parseDecisionLogsConfig({ console: true, mask_decision: 'my/mask', drop_decision: '/my/drop' }, []);
    expect([c?.maskDecision, c?.dropDecision]).toEqual(['my/mask', 'my/drop']);
  });

  it('clamps upload_size_limit_bytes to 90 .. 4294967296 with a warning', () => {
    expect(parseDecisionLogsConfig({ console: true, reporting: { upload_size_limit_bytes: 10 } }, [])?.reporting.uploadSizeLimitBytes).toBe(90);
    const big = parseDecisionLogsConfig({ console: true, reporting: { upload_size_limit_bytes: 5000000000 } }, []);
    expect(big?.reporting.uploadSizeLimitBytes).toBe(4294967296);
    expect(big?.warnings).toEqual(['the configured upload_size_limit_bytes (5000000000) has been set to the maximum limit (4294967296)']);
  });

  it('warns about keys OPA would ignore', () => {
    expect(parseDecisionLogsConfig({ console: true, consol: true, reporting: { min_dealy_seconds: 1 } }, [])?.warnings).toEqual([
      'unknown key decision_logs.consol ignored',
      'unknown key decision_logs.reporting.min_dealy_seconds ignored',
    ]);
  });

  it.each([
    ['a service that is not configured', { service: 'nope' }, ['s'], 'invalid service name "nope" in decision_logs (services: "s")'],
    ['min_delay_seconds without max_delay_seconds', { console: true, reporting: { min_delay_seconds: 1 } }, [], 'missing max_delay_seconds'],
    ['max_delay_seconds without min_delay_seconds', { console: true, reporting: { max_delay_seconds: 1 } }, [], 'missing min_delay_seconds'],
    ['max_delay_seconds below min_delay_seconds', { console: true, reporting: { min_delay_seconds: 5, max_delay_seconds: 1 } }, [], 'decision_logs.reporting.max_delay_seconds (1) must be >= min_delay_seconds (5)'],
    ['min_delay_seconds as the string "5"', { console: true, reporting: { min_delay_seconds: '5', max_delay_seconds: 9 } }, [], 'decision_logs.reporting.min_delay_seconds must be an integer, got "5"'],
    ['buffer_type "disk"', { console: true, reporting: { buffer_type: 'disk' } }, [], 'decision_logs.reporting.buffer_type is "disk", expected one of "size", "event"'],
    ['buffer_size_limit_events with the size buffer', { console: true, reporting: { buffer_size_limit_events: 5 } }, [], "buffer_size_limit_events isn't supported for the size buffer type"],
    ['buffer_size_limit_bytes with the event buffer', { console: true, reporting: { buffer_type: 'event', buffer_size_limit_bytes: 5 } }, [], "buffer_size_limit_bytes isn't supported for the event buffer type"],
    ['buffer_size_limit_bytes with max_decisions_per_second', { console: true, reporting: { buffer_size_limit_bytes: 5, max_decisions_per_second: 1 } }, [], 'specify either buffer_size_limit_bytes or max_decisions_per_second'],
    ['buffer_size_limit_events 0', { console: true, reporting: { buffer_type: 'event', buffer_size_limit_events: 0 } }, [], 'buffer_size_limit_events must be higher than 0'],
    ['trigger "sometimes"', { console: true, reporting: { trigger: 'sometimes' } }, [], 'decision_logs.reporting.trigger is "sometimes", expected one of "periodic", "immediate", "manual"'],
    ['a decision log plugin', { plugin: 'my_plugin' }, [], 'invalid plugin name "my_plugin" in decision_logs'],
    ['console "yes"', { console: 'yes' }, [], 'decision_logs.console must be true or false, got "yes"'],
    ['mask_decision with a bad escape', { console: true, mask_decision: '/system/%zz' }, [], 'invalid mask_decision in decision_logs'],
    ['a list as the section', [1], [], 'decision_logs must be a mapping of keys'],
  ])('refuses %s', (_what, doc, services, message) => {
    expect(() => parseDecisionLogsConfig(doc, services)).toThrow(message);
  });
});

describe('services', () => {
  it('reads the mapping form (name from the key) and the list form (name from the entry), in order', () => {
    const map = parseServices({ a: { url: 'http://a.example/base/' }, b: { url: 'https://b.example' } });
    expect(map.map((s) => [s.name, s.url])).toEqual([
      ['a', 'http://a.example/base'],
      ['b', 'https://b.example'],
    ]);
    const list = parseServices([{ name: 'x', url: 'http://x.example', response_header_timeout_seconds: 3, headers: { 'X-A': '1' } }]);
    expect(list).toEqual([{ name: 'x', url: 'http://x.example', headers: { 'X-A': '1' }, responseHeaderTimeoutSeconds: 3, allowInsecureTls: false, ignoredKeys: [] }]);
  });

  it('defaults the response header timeout to 10 s and the bearer scheme to Bearer', () => {
    const [s] = parseServices({ a: { url: 'http://a', credentials: { bearer: { token_path: '/t' } } } });
    expect(s?.responseHeaderTimeoutSeconds).toBe(10);
    expect(s?.credentials).toEqual({ kind: 'bearer', tokenPath: '/t', scheme: 'Bearer' });
  });

  it('reads TLS settings and client certificates', () => {
    const [s] = parseServices({
      a: { url: 'https://a', tls: { ca_cert: '/ca.pem', system_ca_required: true }, credentials: { client_tls: { cert: '/c.pem', private_key: '/k.pem' } } },
    });
    expect(s?.tls).toEqual({ caCert: '/ca.pem', systemCaRequired: true });
    expect(s?.credentials).toEqual({ kind: 'client_tls', cert: '/c.pem', privateKey: '/k.pem', systemCaRequired: false });
  });

  it.each([
    ['a missing url', { a: {} }, 'services.a.url must be set'],
    ['a ftp:// url', { a: { url: 'ftp://x' } }, 'services.a.url must be an http:// or https:// URL'],
    ['a list entry without name', [{ url: 'http://x' }], 'services[0].name must be set'],
    ['two credential methods', { a: { url: 'http://x', credentials: { bearer: { token: 't' }, client_tls: { cert: 'c', private_key: 'k' } } } }, 'a maximum one credential method must be specified'],
    ['token and token_path together', { a: { url: 'http://x', credentials: { bearer: { token: 't', token_path: '/p' } } } }, 'either the "token" or "token_path" field'],
    ['oauth2 credentials', { a: { url: 'http://x', credentials: { oauth2: {} } } }, 'services.a.credentials.oauth2 is not supported by kmesh-opa'],
    ['client_tls without private_key', { a: { url: 'http://x', credentials: { client_tls: { cert: 'c' } } } }, 'services.a.credentials.client_tls.private_key must be set'],
    ['headers with a number value', { a: { url: 'http://x', headers: { 'X-N': 1 } } }, 'services.a.headers.X-N must be a string, got 1'],
    ['a string as the section', 'http://x', 'services must be a list of services or a mapping'],
    ['the same name twice', [{ name: 'a', url: 'http://x' }, { name: 'a', url: 'http://y' }], 'the name "a" is used by more than one service'],
  ])('refuses %s', (_what, doc, message) => {
    expect(() => parseServices(doc)).toThrow(message);
  });
});
