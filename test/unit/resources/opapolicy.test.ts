// OPAPolicy and Secret resources: every Universal YAML of the seed page (opa-policy-integration.txt)
// validates and resolves; bad input is refused with the field named; Secrets resolve to Rego or to
// bundles built by the real `opa build`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse, parseDocument } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { opaBinary } from '../../helpers/tools.js';
import { OPA_PAGE } from '../../helpers/seed-pages.js';
import { MAX_UNPACKED_BUNDLE_BYTES, resolveOpaPolicy, validateOpaPolicy, validateSecret } from '../../../src/resources/opapolicy.js';
import type { Resource } from '../../../src/resources/types.js';
import { violationsOf } from '../../helpers/validation.js';

function resource(yaml: string): Resource {
  return parse(yaml) as Resource;
}

/** A Kubernetes-form OPAPolicy of the page, in Kuma's Universal form (what this agent stores). */
function universalOf(k8sYaml: string): Resource {
  const doc = parse(k8sYaml) as { mesh: string; metadata: { name: string }; spec: Record<string, unknown> };
  return { type: 'OPAPolicy', mesh: doc.mesh, name: doc.metadata.name, ...doc.spec };
}

function secretOf(name: string, bytes: Uint8Array | string): Resource {
  return { type: 'Secret', mesh: 'default', name, data: Buffer.from(bytes).toString('base64') };
}

function secrets(...list: Resource[]): (name: string) => Resource | undefined {
  return (name) => list.find((s) => s.name === name);
}


function withConf(conf: unknown): Resource {
  return { type: 'OPAPolicy', mesh: 'default', name: 'opa-1', selectors: [{ match: { 'kuma.io/service': '*' } }], conf };
}

describe('the seed page YAML', () => {
  it('inline policy: validates; resolves to one Rego module and agentConfig decision_logs.console', () => {
    const r = resource(OPA_PAGE.inline);
    expect(validateOpaPolicy(r)).toEqual([]);
    expect(resolveOpaPolicy(r, secrets())).toEqual({
      policy: { rego: [{ name: 'opa-1.policies[0].rego', source: OPA_PAGE.rego }] },
      agentConfig: { decision_logs: { console: true } },
      authConfig: {},
    });
  });

  it('Secret: validates; its data is the seed Rego', () => {
    const s = resource(OPA_PAGE.secret);
    expect(validateSecret(s)).toEqual([]);
    expect(resolveOpaPolicy(resource(OPA_PAGE.secretPolicy), (n) => (n === 'opa-policy' ? { ...s, name: 'opa-policy' } : undefined)).policy).toEqual({
      // The page's base64 ends with one more newline than its inline Rego.
      rego: [{ name: 'opa-1.policies[0].rego', source: `${OPA_PAGE.rego}\n` }],
    });
  });

  it('the page names its Universal Secret sample-secret but refers to opa-policy: not found, as Kong Mesh would say', () => {
    expect(validateOpaPolicy(resource(OPA_PAGE.secretPolicy))).toEqual([]);
    expect(violationsOf(() => resolveOpaPolicy(resource(OPA_PAGE.secretPolicy), secrets(resource(OPA_PAGE.secret))))).toEqual([
      { field: 'conf.policies[0].secret', message: 'secret "opa-policy" not found in mesh "default"' },
    ]);
  });

  it('the Kubernetes-form secret policy, as Universal, validates', () => {
    expect(validateOpaPolicy(universalOf(OPA_PAGE.k8sSecretPolicy))).toEqual([]);
  });

  it('external management agentConfig: validates and parses to services + discovery', () => {
    const r = resource(OPA_PAGE.externalManagement);
    expect(validateOpaPolicy(r)).toEqual([]);
    const resolved = resolveOpaPolicy(r, secrets());
    expect(resolved.policy).toBeUndefined();
    expect(resolved.agentConfig).toEqual({
      services: { acmecorp: { url: 'https://example.com/control-plane-api/v1', credentials: { bearer: { token: 'bGFza2RqZmxha3NkamZsa2Fqc2Rsa2ZqYWtsc2RqZmtramRmYWxkc2tm' } } } },
      discovery: { name: 'example', resource: '/configuration/example/discovery' },
    });
  });

  describe('authConfig example as printed (authConfig indented 4, agentConfig 2)', () => {
    it('is not valid YAML: the yaml package reports it, and so does Go (opa eval: "did not find expected key")', () => {
      const doc = parseDocument(OPA_PAGE.authConfigAsPrinted);
      expect(doc.errors.map((e) => [e.code, e.linePos?.[0].line])).toEqual([
        ['BAD_INDENT', 14],
        ['BAD_INDENT', 18],
      ]);
      const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-seed-'));
      writeFileSync(join(dir, 'policy.yaml'), OPA_PAGE.authConfigAsPrinted);
      expect(() => execFileSync(opaBinary(), ['eval', '-i', join(dir, 'policy.yaml'), 'input'], { stdio: 'pipe' })).toThrow(/did not find expected key/);
    });

    it('read past its errors, agentConfig and policies land at the top level and are refused as unknown fields', () => {
      const r = parseDocument(OPA_PAGE.authConfigAsPrinted).toJS() as Resource;
      expect(r.conf).toEqual({ authConfig: { statusOnError: 413, onAgentFailure: 'allow', requestBody: { maxSize: 1024, sendRawBody: true } } });
      expect(validateOpaPolicy(r)).toEqual([
        { field: 'agentConfig', message: 'unknown field' },
        { field: 'policies', message: 'unknown field' },
      ]);
    });

    it('with authConfig indented as the page intends, validates and resolves to 413 / allow / 1024 / raw body', () => {
      const intended = OPA_PAGE.authConfigAsPrinted.replace(
        /^ {4}authConfig:.*\n(?: {8}.*\n)+/m,
        (block) => block.replace(/^ {4}/gm, '').replace(/^(?=.)/gm, '  '),
      );
      expect(intended).toContain('\n  authConfig: # optional\n      statusOnError: 413');
      expect(intended).toContain('\n  agentConfig: # optional\n    inlineString: | # one of');
      const r = resource(intended);
      expect(validateOpaPolicy(r)).toEqual([]);
      const resolved = resolveOpaPolicy(r, secrets(secretOf('opa-policy', OPA_PAGE.rego)));
      expect(resolved.authConfig).toEqual({ statusOnError: 413, onAgentFailure: 'allow', maxSize: 1024, sendRawBody: true });
      expect(resolved.agentConfig).toEqual({ decision_logs: { console: true } });
    });
  });
});

describe('validateOpaPolicy: bad input', () => {
  it('a misspelt key (conf.polices) is refused, not ignored', () => {
    expect(validateOpaPolicy(withConf({ polices: [{ inlineString: 'package x' }] }))).toEqual([{ field: 'conf.polices', message: 'unknown field' }]);
  });

  it('misspelt keys deeper down (authConfig.statusOnErorr, requestBody.maxsize, policies[0].inline)', () => {
    const r = withConf({ authConfig: { statusOnErorr: 413, requestBody: { maxsize: 1 } }, policies: [{ inline: 'x' }] });
    expect(validateOpaPolicy(r)).toEqual([
      { field: 'conf.policies[0].inline', message: 'unknown field' },
      { field: 'conf.policies[0]', message: 'must have exactly one of inlineString, secret' },
      { field: 'conf.authConfig.statusOnErorr', message: 'unknown field' },
      { field: 'conf.authConfig.requestBody.maxsize', message: 'unknown field' },
    ]);
  });

  it('selectors missing, empty list, empty match, empty tag value, tag value not a string', () => {
    const base = withConf({});
    expect(validateOpaPolicy({ ...base, selectors: undefined })).toEqual([{ field: 'selectors', message: 'must have at least one element' }]);
    expect(validateOpaPolicy({ ...base, selectors: [] })).toEqual([{ field: 'selectors', message: 'must have at least one element' }]);
    expect(validateOpaPolicy({ ...base, selectors: [{ match: {} }] })).toEqual([{ field: 'selectors[0].match', message: 'must have at least one tag' }]);
    expect(validateOpaPolicy({ ...base, selectors: [{ match: { 'kuma.io/service': '', version: 1 } }] })).toEqual([
      { field: 'selectors[0].match["kuma.io/service"]', message: 'tag value must be non-empty' },
      { field: 'selectors[0].match["version"]', message: 'tag value must be a string' },
    ]);
  });

  it('conf missing', () => {
    const { conf: _conf, ...noConf } = withConf({});
    expect(validateOpaPolicy(noConf as Resource)).toEqual([{ field: 'conf', message: 'must be defined' }]);
  });

  it('a policy with both inlineString and secret, or an empty inlineString', () => {
    expect(validateOpaPolicy(withConf({ policies: [{ inlineString: 'package x', secret: 's' }, { inlineString: '' }] }))).toEqual([
      { field: 'conf.policies[0]', message: 'must have exactly one of inlineString, secret' },
      { field: 'conf.policies[1].inlineString', message: 'must be a non-empty string' },
    ]);
  });

  it('agentConfig with both sources', () => {
    expect(validateOpaPolicy(withConf({ agentConfig: { inlineString: 'a: 1', secret: 's' } }))).toEqual([
      { field: 'conf.agentConfig', message: 'must have at most one of inlineString, secret' },
    ]);
  });

  it('agentConfig inline YAML that does not parse names the line', () => {
    const [v] = validateOpaPolicy(withConf({ agentConfig: { inlineString: 'decision_logs:\n  console: true\n bad: [\n' } }));
    expect(v?.field).toBe('conf.agentConfig.inlineString');
    expect(v?.message).toMatch(/^invalid YAML at line 3: /);
  });

  it('agentConfig inline YAML that is a list, not a mapping', () => {
    expect(validateOpaPolicy(withConf({ agentConfig: { inlineString: '- a\n- b\n' } }))).toEqual([
      { field: 'conf.agentConfig.inlineString', message: 'must be a YAML mapping (the OPA configuration document)' },
    ]);
  });

  it('statusOnError 99, 600, "413" and 413.5 are refused; 100 and 599 pass (as --status-on-error)', () => {
    for (const bad of [99, 600, '413', 413.5]) {
      expect(validateOpaPolicy(withConf({ authConfig: { statusOnError: bad } }))).toEqual([
        { field: 'conf.authConfig.statusOnError', message: 'must be an HTTP status code 100-599' },
      ]);
    }
    for (const ok of [100, 599]) expect(validateOpaPolicy(withConf({ authConfig: { statusOnError: ok } }))).toEqual([]);
  });

  it('onAgentFailure "Allow" (wrong case) is refused', () => {
    expect(validateOpaPolicy(withConf({ authConfig: { onAgentFailure: 'Allow' } }))).toEqual([
      { field: 'conf.authConfig.onAgentFailure', message: 'must be one of: allow, deny' },
    ]);
  });

  it('maxSize -1 and 1.5, sendRawBody "true" are refused', () => {
    expect(validateOpaPolicy(withConf({ authConfig: { requestBody: { maxSize: -1, sendRawBody: 'true' } } }))).toEqual([
      { field: 'conf.authConfig.requestBody.maxSize', message: 'must be a whole number of bytes, 0-2147483647' },
      { field: 'conf.authConfig.requestBody.sendRawBody', message: 'must be true or false' },
    ]);
    expect(validateOpaPolicy(withConf({ authConfig: { requestBody: { maxSize: 1.5 } } }))).toHaveLength(1);
  });

  it('resolveOpaPolicy throws the same violations', () => {
    expect(violationsOf(() => resolveOpaPolicy(withConf({ polices: [] }), secrets()))).toEqual([{ field: 'conf.polices', message: 'unknown field' }]);
  });
});

describe('validateSecret', () => {
  it('accepts base64 wrapped over lines (Go skips CR and LF)', () => {
    expect(validateSecret({ type: 'Secret', mesh: 'default', name: 's', data: 'cGFja2Fn\r\nZSB4\n' })).toEqual([]);
  });

  it('refuses an invalid character (!), a bad length (abc), URL-safe characters (-_) and misplaced padding', () => {
    for (const data of ['cGFj!2Fn', 'abc', 'ab-_', 'ab=c', 'YQ===']) {
      expect(validateSecret({ type: 'Secret', mesh: 'default', name: 's', data })).toEqual([{ field: 'data', message: 'must be valid base64' }]);
    }
  });

  it('refuses missing or empty data, and a misspelt key (dat)', () => {
    expect(validateSecret({ type: 'Secret', mesh: 'default', name: 's' })).toEqual([{ field: 'data', message: 'cannot be empty' }]);
    expect(validateSecret({ type: 'Secret', mesh: 'default', name: 's', data: '' })).toEqual([{ field: 'data', message: 'cannot be empty' }]);
    expect(validateSecret({ type: 'Secret', mesh: 'default', name: 's', dat: 'YQ==' })).toEqual([
      { field: 'dat', message: 'unknown field' },
      { field: 'data', message: 'cannot be empty' },
    ]);
  });

  it('a GlobalSecret validates the same way', () => {
    expect(validateSecret({ type: 'GlobalSecret', name: 'g', data: 'YQ==' })).toEqual([]);
  });
});

describe('resolveOpaPolicy: secrets', () => {
  let wasmBundle: Uint8Array;
  let regoBundle: Uint8Array;
  /** policy.rego as `opa build` stored it in the bundle (it reformats the source). */
  let regoInBundle: string;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-secret-'));
    writeFileSync(join(dir, 'policy.rego'), OPA_PAGE.rego);
    const opa = opaBinary();
    execFileSync(opa, ['build', '--v0-compatible', '-t', 'wasm', '-e', 'envoy/authz/allow', '-o', join(dir, 'wasm.tar.gz'), join(dir, 'policy.rego')], { stdio: 'pipe' });
    execFileSync(opa, ['build', '--v0-compatible', '-o', 'rego.tar.gz', 'policy.rego'], { stdio: 'pipe', cwd: dir });
    wasmBundle = new Uint8Array(readFileSync(join(dir, 'wasm.tar.gz')));
    regoBundle = new Uint8Array(readFileSync(join(dir, 'rego.tar.gz')));
    regoInBundle = execFileSync('tar', ['-xzOf', join(dir, 'rego.tar.gz'), '/policy.rego'], { encoding: 'utf8' });
  });

  it('a bundle from opa build -t wasm, alone, is passed through as the bundle', () => {
    const resolved = resolveOpaPolicy(withConf({ policies: [{ secret: 'bundle' }] }), secrets(secretOf('bundle', wasmBundle)));
    expect(resolved.policy).toEqual({ bundle: wasmBundle, origin: 'secret "bundle" (conf.policies[0].secret)' });
  });

  it('a wasm bundle beside other policies is refused, naming its field', () => {
    const r = withConf({ policies: [{ inlineString: 'package a' }, { secret: 'bundle' }] });
    expect(violationsOf(() => resolveOpaPolicy(r, secrets(secretOf('bundle', wasmBundle))))).toEqual([
      { field: 'conf.policies[1].secret', message: 'secret "bundle" holds a compiled WebAssembly policy, which must be the only entry of conf.policies' },
    ]);
  });

  it('a bundle from opa build (Rego only) contributes its .rego files as modules, after inline ones', () => {
    const r = withConf({ policies: [{ inlineString: 'package extra\n' }, { secret: 'rego' }] });
    expect(resolveOpaPolicy(r, secrets(secretOf('rego', regoBundle))).policy).toEqual({
      rego: [
        { name: 'opa-1.policies[0].rego', source: 'package extra\n' },
        { name: 'opa-1.policies[1]/policy.rego', source: regoInBundle },
      ],
    });
  });

  it('Rego that is not UTF-8 (a lone 0xff byte) is refused, naming the secret', () => {
    const bytes = Buffer.concat([Buffer.from('package x\n# '), Buffer.from([0xff]), Buffer.from('\n')]);
    expect(violationsOf(() => resolveOpaPolicy(withConf({ policies: [{ secret: 'latin1' }] }), secrets(secretOf('latin1', bytes))))).toEqual([
      { field: 'conf.policies[0].secret', message: 'secret "latin1" holds neither UTF-8 text nor a gzipped bundle' },
    ]);
  });

  it('gzip that is not a tar archive is refused, naming the secret', () => {
    const [v] = violationsOf(() => resolveOpaPolicy(withConf({ policies: [{ secret: 'gz' }] }), secrets(secretOf('gz', gzipSync(Buffer.alloc(1024, 7))))));
    expect(v).toMatchObject({ field: 'conf.policies[0].secret', message: expect.stringContaining('secret "gz" holds a broken bundle') });
  });

  it('a gzip bomb (zeros unpacking past MAX_UNPACKED_BUNDLE_BYTES) is refused as too large, naming the secret', () => {
    const bomb = gzipSync(Buffer.alloc(MAX_UNPACKED_BUNDLE_BYTES + 1));
    const [v] = violationsOf(() => resolveOpaPolicy(withConf({ policies: [{ secret: 'bomb' }] }), secrets(secretOf('bomb', bomb))));
    expect(v).toEqual({ field: 'conf.policies[0].secret', message: `secret "bomb" holds a broken bundle: it unpacks to more than ${MAX_UNPACKED_BUNDLE_BYTES} bytes` });
  });

  it('a stored secret with bad base64 is reported on the referring field', () => {
    const broken: Resource = { type: 'Secret', mesh: 'default', name: 'broken', data: '!!' };
    expect(violationsOf(() => resolveOpaPolicy(withConf({ policies: [{ secret: 'broken' }] }), secrets(broken)))).toEqual([
      { field: 'conf.policies[0].secret', message: 'secret "broken" is not valid: data must be valid base64' },
    ]);
  });

  it('agentConfig from a secret is its decoded YAML; a missing one is reported together with a missing policy secret', () => {
    const conf = { agentConfig: { secret: 'agent' }, policies: [{ inlineString: 'package a' }] };
    expect(resolveOpaPolicy(withConf(conf), secrets(secretOf('agent', 'decision_logs:\n  console: true\n'))).agentConfig).toEqual({ decision_logs: { console: true } });
    expect(violationsOf(() => resolveOpaPolicy({ ...withConf({ ...conf, policies: [{ secret: 'p' }] }), mesh: 'demo' }, secrets()))).toEqual([
      { field: 'conf.policies[0].secret', message: 'secret "p" not found in mesh "demo"' },
      { field: 'conf.agentConfig.secret', message: 'secret "agent" not found in mesh "demo"' },
    ]);
  });

  it('agentConfig from a secret that is not a YAML mapping is refused, naming the secret', () => {
    expect(violationsOf(() => resolveOpaPolicy(withConf({ agentConfig: { secret: 'agent' } }), secrets(secretOf('agent', 'just text'))))).toEqual([
      { field: 'conf.agentConfig.secret', message: 'secret "agent": must be a YAML mapping (the OPA configuration document)' },
    ]);
  });

  it('no policies at all: policy absent (the agent keeps its boot policy)', () => {
    expect(resolveOpaPolicy(withConf({ policies: [] }), secrets())).toEqual({ authConfig: {} });
  });
});
