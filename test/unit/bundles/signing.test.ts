// Bundles signed by the real `opa build --signing-key`, verified here. Expected messages are the ones
// OPA 1.19.1 prints for the same bundles (`opa build -b <bundle> --verification-key <pem>`).
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { readTar } from '../../../src/engine/bundle.js';
import { parseKeys } from '../../../src/bundles/keys.js';
import { BundleSignatureError, canonicalJson, parseSigningConfig, verifyBundle, type SigningConfig } from '../../../src/bundles/signing.js';
import { opaBinary } from '../../helpers/tools.js';

const POLICY = 'package envoy.authz\n\ndefault allow := false\n\nallow if input.x == data.cfg.v\n';
// Number text, key order, HTML characters and U+2028 all matter to OPA's canonical form.
const DATA = '{"cfg": {"v": 1.0, "b": "<a&b>\\u2028", "a": [1e3, 2]}}';

let dir: string;
const pem = (alg: 'rsa' | 'ec') => {
  const pair = alg === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    priv: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pub: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
};

function build(signingKey: string, alg: string, claims?: Record<string, unknown>): Map<string, Uint8Array> {
  const work = mkdtempSync(join(dir, 'b-'));
  const src = join(work, 'src');
  execFileSync('mkdir', [src]);
  writeFileSync(join(src, 'policy.rego'), POLICY);
  writeFileSync(join(src, 'data.json'), DATA);
  const keyFile = join(work, 'key');
  writeFileSync(keyFile, signingKey);
  const out = join(work, 'bundle.tar.gz');
  const args = ['build', '--bundle', '-t', 'wasm', '-e', 'envoy/authz/allow', '--signing-key', keyFile, '--signing-alg', alg, '-o', out];
  if (claims) {
    writeFileSync(join(work, 'claims.json'), JSON.stringify(claims));
    args.push('--claims-file', join(work, 'claims.json'));
  }
  execFileSync(opaBinary(), [...args, src], { stdio: 'pipe' });
  return readTar(gunzipSync(readFileSync(out)));
}

function payloadOf(files: Map<string, Uint8Array>): { files: { name: string; hash: string }[] } {
  const token = (JSON.parse(Buffer.from(files.get('.signatures.json')!).toString()) as { signatures: string[] }).signatures[0]!;
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { files: { name: string; hash: string }[] };
}

async function refusal(files: Map<string, Uint8Array>, signing: SigningConfig | undefined, keys: ReturnType<typeof parseKeys>): Promise<string> {
  try {
    await verifyBundle(files, signing, keys);
  } catch (err) {
    expect(err).toBeInstanceOf(BundleSignatureError);
    return (err as Error).message;
  }
  throw new Error('the bundle was accepted');
}

const rsa = { priv: '', pub: '' };
const ec = { priv: '', pub: '' };
let rsaBundle: Map<string, Uint8Array>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-signing-'));
  Object.assign(rsa, pem('rsa'));
  Object.assign(ec, pem('ec'));
  rsaBundle = build(rsa.priv, 'RS256');
}, 60_000);

describe('verifyBundle with bundles signed by opa build', () => {
  it('accepts an RS256 bundle verified with the public key (kid "default" from the JWT header)', async () => {
    await expect(verifyBundle(rsaBundle, {}, parseKeys({ default: { key: rsa.pub } }))).resolves.toBeUndefined();
  });

  it('accepts ES256, PS256 and HS256 bundles', async () => {
    await verifyBundle(build(ec.priv, 'ES256'), {}, parseKeys({ default: { key: ec.pub, algorithm: 'ES256' } }));
    await verifyBundle(build(rsa.priv, 'PS256'), {}, parseKeys({ default: { key: rsa.pub, algorithm: 'PS256' } }));
    await verifyBundle(build('s3cr3t', 'HS256'), {}, parseKeys({ default: { key: 's3cr3t', algorithm: 'HS256' } }));
  }, 60_000);

  it('hashes data.json in canonical form: re-indented, reordered JSON still verifies', async () => {
    const files = new Map(rsaBundle);
    files.set('data.json', Buffer.from('{\n  "cfg": {\n    "v": 1.0,\n    "a": [1e3, 2],\n    "b": "\\u003ca\\u0026b\\u003e\\u2028"\n  }\n}\n'));
    await verifyBundle(files, {}, parseKeys({ default: { key: rsa.pub } }));
  });

  it('refuses tampered data.json with the digests OPA prints', async () => {
    const files = new Map(rsaBundle);
    files.set('data.json', Buffer.from('{"cfg":{"v":2}}'));
    const want = payloadOf(rsaBundle).files.find((f) => f.name === 'data.json')!.hash;
    // "got" as printed by `opa build -b` for the same tampered data.json.
    expect(await refusal(files, {}, parseKeys({ default: { key: rsa.pub } }))).toBe(
      `data.json: digest mismatch (want: ${want}, got: 5d3000926612e4a4e49872149cb8f9bd67ea3ce57a4dcfa5803d942ef9f42cff)`,
    );
  });

  it('refuses data.json whose number text changed (1.0 -> 1)', async () => {
    const files = new Map(rsaBundle);
    files.set('data.json', Buffer.from('{"cfg": {"v": 1, "b": "<a&b>\\u2028", "a": [1e3, 2]}}'));
    expect(await refusal(files, {}, parseKeys({ default: { key: rsa.pub } }))).toMatch(/^data\.json: digest mismatch/);
  });

  it('refuses a tampered policy.wasm', async () => {
    const files = new Map(rsaBundle);
    const wasm = Buffer.from(files.get('policy.wasm')!);
    wasm.writeUInt8(wasm.readUInt8(wasm.length - 1) ^ 1, wasm.length - 1);
    files.set('policy.wasm', wasm);
    expect(await refusal(files, {}, parseKeys({ default: { key: rsa.pub } }))).toMatch(/^policy\.wasm: digest mismatch \(want: [0-9a-f]{64}, got: [0-9a-f]{64}\)$/);
  });

  it('refuses a signature made with another key', async () => {
    const other = pem('rsa');
    expect(await refusal(rsaBundle, {}, parseKeys({ default: { key: other.pub } }))).toBe('failed to verify JWT signature: crypto/rsa: verification error');
    expect(await refusal(build('s3cr3t', 'HS256'), {}, parseKeys({ default: { key: 'wrong', algorithm: 'HS256' } }))).toBe('failed to verify JWT signature: invalid HMAC signature');
  }, 30_000);

  it('refuses a key id (kid "default") that no configured key has', async () => {
    expect(await refusal(rsaBundle, {}, parseKeys({ other: { key: rsa.pub } }))).toBe('verification key corresponding to ID default not found');
  });

  it('uses the configured keyid over the JWT kid', async () => {
    await verifyBundle(rsaBundle, { keyid: 'mine' }, parseKeys({ mine: { key: rsa.pub } }));
  });

  it('refuses a bundle without .signatures.json when a keyid is configured, accepts it when none is', async () => {
    const files = new Map(rsaBundle);
    files.delete('.signatures.json');
    expect(await refusal(files, { keyid: 'default' }, parseKeys({ default: { key: rsa.pub } }))).toBe('bundle missing .signatures.json file');
    await verifyBundle(files, {}, parseKeys({ default: { key: rsa.pub } }));
  });

  it('refuses a signed bundle when no signing configuration applies', async () => {
    expect(await refusal(rsaBundle, undefined, new Map())).toBe('verification key not provided');
  });

  it('refuses .signatures.json with two signatures, or with an empty list', async () => {
    const token = (JSON.parse(Buffer.from(rsaBundle.get('.signatures.json')!).toString()) as { signatures: string[] }).signatures[0]!;
    const keys = parseKeys({ default: { key: rsa.pub } });
    const files = new Map(rsaBundle);
    files.set('.signatures.json', Buffer.from(JSON.stringify({ signatures: [token, token] })));
    expect(await refusal(files, {}, keys)).toBe('.signatures.json: multiple JWTs not supported (expected exactly one)');
    files.set('.signatures.json', Buffer.from('{"signatures": []}'));
    expect(await refusal(files, {}, keys)).toBe('.signatures.json: missing JWT (expected exactly one)');
  });

  it('refuses a scope that differs from the signed one; the key scope applies when signing sets none', async () => {
    const files = build(rsa.priv, 'RS256', { scope: 'write' });
    const keys = parseKeys({ default: { key: rsa.pub } });
    // With a claims file opa build writes neither a kid header nor a keyid claim: the key must be configured.
    expect(await refusal(files, {}, keys)).toBe('verification key ID is empty');
    expect(await refusal(files, { keyid: 'default', scope: 'read' }, keys)).toBe('scope mismatch');
    expect(await refusal(files, { keyid: 'default' }, keys)).toBe('scope mismatch');
    await verifyBundle(files, { keyid: 'default', scope: 'write' }, keys);
    await verifyBundle(files, { keyid: 'default' }, parseKeys({ default: { key: rsa.pub, scope: 'write' } }));
  }, 30_000);

  it('refuses an unsigned extra file unless exclude_files matches it (Go glob)', async () => {
    const files = new Map(rsaBundle);
    files.set('extra.txt', Buffer.from('hi\n'));
    const keys = parseKeys({ default: { key: rsa.pub } });
    expect(await refusal(files, {}, keys)).toBe('file extra.txt not included in bundle signature');
    await verifyBundle(files, { exclude_files: ['*.txt'] }, keys);
    await verifyBundle(files, { exclude_files: ['e[x-y]tra.tx?'] }, keys);
    expect(await refusal(files, { exclude_files: ['e[a-b]tra.txt'] }, keys)).toBe('file extra.txt not included in bundle signature');
  });

  it('refuses a bundle that lacks a signed file', async () => {
    const files = new Map(rsaBundle);
    files.delete('data.json');
    expect(await refusal(files, {}, parseKeys({ default: { key: rsa.pub } }))).toBe('file(s) [data.json] specified in bundle signatures but not found in the target bundle');
  });
});

describe('keys and signing configuration', () => {
  it('names the key without material and refuses unsupported algorithms', () => {
    expect(() => parseKeys({ k1: { algorithm: 'RS256' } })).toThrow('invalid keys configuration: no keys provided for key ID k1');
    expect(() => parseKeys({ k1: { key: 'x', algorithm: 'EdDSA' } })).toThrow("unsupported algorithm 'EdDSA'");
    expect(parseKeys({ k1: { key: 'x' } }).get('k1')!.algorithm).toBe('RS256');
  });

  it('refuses a signing keyid that names no configured key', () => {
    expect(() => parseSigningConfig({ keyid: 'nope' }, new Map(), 'bundles.b.signing')).toThrow('key id nope not found');
    expect(parseSigningConfig(undefined, parseKeys({ k: { key: 'x' } }), 's')).toEqual({});
    expect(parseSigningConfig(undefined, new Map(), 's')).toBeUndefined();
  });

  it('refuses non-PEM material for an RSA key when a bundle is verified', async () => {
    expect(await refusal(rsaBundle, {}, parseKeys({ default: { key: 'not a pem' } }))).toBe('failed to parse PEM block containing the key');
  });
});

describe('canonicalJson', () => {
  it('writes what OPA hashes: sorted keys, number text kept, HTML unescaped, U+2028 escaped', () => {
    // sha256 of this text is the data.json digest opa build signed for DATA (checked with sha256sum).
    expect(canonicalJson(Buffer.from(DATA), 'data.json').toString()).toBe('{"cfg":{"a":[1e3,2],"b":"<a&b>\\u2028","v":1.0}}');
  });
});
