// Builtins called from a policy compiled to WebAssembly (most of them host calls into this project's
// implementations), compared with the Go OPA-Envoy plugin evaluating the same Rego: the results must be
// equal, errors included (a failing call leaves its key out in both).
import { createHmac, createPublicKey, createSign, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyClient, httpRequest, structToJson, type EnvoyClient } from '../helpers/envoy-client.js';
import { startPlugin, type PluginProcess } from '../helpers/peer.js';
import { POLICIES, readPolicy, startAgent, type AgentProcess } from '../helpers/tools.js';

const BUILTINS = join(POLICIES, 'builtins.rego');
const RS_KEY = readFileSync(join(POLICIES, 'keys', 'rs256.key.pem'), 'utf8');
const RS_CERT = readFileSync(join(POLICIES, 'keys', 'rs256.cert.pem'), 'utf8');
const SECRET = 'kmesh-test-secret';
const EXP = 2524608000; // 2050-01-01

const b64url = (value: object | string) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function hs256(claims: object): string {
  const unsigned = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
  return `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`;
}

function rs256(claims: object): string {
  const unsigned = `${b64url({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64url(claims)}`;
  return `${unsigned}.${createSign('RSA-SHA256').update(unsigned).sign(RS_KEY, 'base64url')}`;
}

const EC = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ED = generateKeyPairSync('ed25519');

function jws(alg: string, claimsSet: object, signer: (data: Buffer) => Buffer): string {
  const unsigned = `${b64url({ alg, typ: 'JWT' })}.${b64url(claimsSet)}`;
  return `${unsigned}.${signer(Buffer.from(unsigned)).toString('base64url')}`;
}

const pem = (key: KeyObject) => key.export({ format: 'pem', type: 'spki' }).toString();
const jwks = (key: KeyObject, alg: string) => JSON.stringify({ keys: [{ ...key.export({ format: 'jwk' }), alg, use: 'sig' }] });

const claims = { sub: 'alice', iss: 'kmesh', roles: ['admin'], nbf: 1514851139, exp: EXP };
const rsToken = rs256({ ...claims, iss: 'rs-issuer' });
const [rsHead, , rsSig] = rsToken.split('.');

const ARGS = {
  secret: SECRET,
  hs_token: hs256(claims),
  // With an audience, decode_verify needs the aud constraint to accept the token.
  hs_aud_token: hs256({ ...claims, aud: 'api' }),
  after_exp_ns: (EXP + 1) * 1e9,
  rs_token: rsToken,
  rs_tampered: `${rsHead}.${b64url({ ...claims, sub: 'mallory' })}.${rsSig}`,
  cert: RS_CERT,
  jwks: JSON.stringify({ keys: [{ ...createPublicKey(RS_CERT).export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] }),
  es_token: jws('ES256', claims, (d) => sign('sha256', d, { key: EC.privateKey, dsaEncoding: 'ieee-p1363' })),
  es_pem: pem(EC.publicKey),
  es_jwks: jwks(EC.publicKey, 'ES256'),
  ps_token: jws('PS256', claims, (d) => sign('sha256', d, { key: RS_KEY, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 })),
  ed_token: jws('EdDSA', claims, (d) => sign(null, d, ED.privateKey)),
  ed_pem: pem(ED.publicKey),
  ed_jwks: jwks(ED.publicKey, 'EdDSA'),
  none_token: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`,
  rfc3339: '2024-02-29T23:59:59.123456789Z',
  rfc3339_offset: '2024-03-01T05:29:59.5+05:30',
  duration: '1h2m3.5s',
  tz: 'America/New_York',
  text: 'a b&c=d/é?',
  encoded: 'a+b%26c%3Dd%2F%C3%A9%3F',
  query: 'a=1&a=2&b=x+y&c=%C3%A9',
  obj: { k: ['v', 1, null], n: 1.5 },
  int: 42,
  float: 2.5,
  list: [1, 'two', false],
  big: 12345678901234567,
  byte_sizes: ['10KB', '10KiB', '1.5MiB', '42', '1e3', '7 mb', '0'],
  hex: '6b6d6573682d6f7061',
  versions: [
    ['1.2.3', '1.10.0'],
    ['2.0.0', '2.0.0'],
    ['1.0.0-alpha', '1.0.0'],
    ['1.0.0-alpha.10', '1.0.0-alpha.2'],
    ['1.0.0+build.1', '1.0.0+build.2'],
  ],
  uuid_key: 'request-1',
};

/** The keys the policy defines, read from its source: results["name"] := ... and edges["name"] := ... */
const KEYS = {
  results: [...readPolicy('builtins.rego').matchAll(/^results\["(\w+)"\]/gm)].map((m) => m[1]!),
  edges: [...readPolicy('builtins.rego').matchAll(/^edges\["(\w+)"\]/gm)].map((m) => m[1]!),
  more: [...readPolicy('builtins.rego').matchAll(/^more\["(\w+)"\]/gm)].map((m) => m[1]!),
};

const REQUEST = httpRequest({ method: 'POST', path: '/b', body: JSON.stringify(ARGS), headers: { 'content-type': 'application/json' } });

describe('builtins through the WebAssembly policy, compared with the Go plugin', () => {
  let agent: AgentProcess;
  let plugin: PluginProcess;
  let ours: EnvoyClient;
  let theirs: EnvoyClient;
  let oursMeta: Record<string, unknown>;
  let goMeta: Record<string, unknown>;

  beforeAll(async () => {
    [agent, plugin] = await Promise.all([startAgent([BUILTINS]), startPlugin([BUILTINS])]);
    ours = envoyClient(agent.address);
    theirs = envoyClient(plugin.address);
    const [a, b] = await Promise.all([ours.check(REQUEST), theirs.check(REQUEST)]);
    oursMeta = structToJson(a.dynamic_metadata);
    goMeta = structToJson(b.dynamic_metadata);
  });
  afterAll(async () => {
    ours?.close();
    theirs?.close();
    await Promise.all([agent?.stop(), plugin?.stop()]);
  });

  it('the policy calls the JWT, time, crypto and encoding builtins on the host', () => {
    const line = agent.stderr().split('\n').find((l) => l.includes('"msg":"policy activated"'));
    const hostBuiltins = (JSON.parse(line ?? '{}') as { host_builtins?: string[] }).host_builtins;
    expect(hostBuiltins).toEqual(expect.arrayContaining(['io.jwt.decode_verify', 'time.parse_rfc3339_ns', 'time.now_ns', 'crypto.hmac.sha256']));
  });

  it('the reference fails exactly the calls given bad arguments (so that equality means something)', () => {
    const absent = (Object.keys(KEYS) as (keyof typeof KEYS)[]).flatMap((g) => KEYS[g].filter((k) => !(k in (goMeta[g] as object))).map((k) => `${g}.${k}`));
    expect(absent.sort()).toEqual(
      [
        'results.jwt_decode_garbage',
        'results.parse_rfc3339_ns_bad',
        'results.parse_duration_ns_bad',
        'results.units_parse_bytes_bad',
        'results.hex_decode_bad',
        'results.semver_compare_bad',
        'edges.rfc3339_lowercase',
        'edges.rfc3339_out_of_range',
        'edges.duration_no_unit',
        'edges.date_bad_tz',
        'edges.urlquery_decode_bad_escape',
        'edges.urlquery_decode_object_bad',
        'edges.hex_decode_odd',
        'edges.jwt_not_a_token',
        'edges.jwt_cert_garbage',
        'more.time_parse_ns_bad',
        'more.units_parse_bad',
        'more.uuid_parse_bad',
        'more.yaml_unmarshal_bad',
      ].sort(),
    );
    const more = goMeta.more as Record<string, unknown>;
    for (const k of ['jwt_verify_es256_pem', 'jwt_verify_es256_jwks', 'jwt_verify_ps256', 'jwt_verify_eddsa']) expect(more[k]).toBe(true);
  });

  it('the reference computed what the policy asks (so that equality means something)', () => {
    const results = goMeta.results as Record<string, unknown>;
    expect(results.jwt_hs256).toEqual([true, { alg: 'HS256', typ: 'JWT' }, claims]);
    expect(results.jwt_rs256).toMatchObject([true, { alg: 'RS256' }, { iss: 'rs-issuer' }]);
    expect(results.jwt_hs256_wrong_secret).toEqual([false, {}, {}]);
    expect(results).not.toHaveProperty('parse_rfc3339_ns_bad');
    expect(results).toHaveProperty('parse_rfc3339_ns_text', '1709251199123456789');
  });

  for (const group of ['results', 'edges', 'more'] as const) {
    for (const key of KEYS[group]) {
      it(`${group}.${key}: same result as the Go plugin (or absent in both)`, () => {
        const mine = oursMeta[group] as Record<string, unknown>;
        const go = goMeta[group] as Record<string, unknown>;
        expect(mine[key]).toEqual(go[key]);
        expect(key in mine).toBe(key in go);
      });
    }

    it(`${group}: no key is missing or extra`, () => {
      const goKeys = Object.keys(goMeta[group] as object);
      expect(Object.keys(oursMeta[group] as object).sort()).toEqual(goKeys.sort());
      expect(KEYS[group]).toEqual(expect.arrayContaining(goKeys));
    });
  }

  it('time.now_ns is the current time, and uuid.rfc4122 a version 4 UUID', () => {
    const now = Date.now() * 1e6;
    expect(Math.abs((oursMeta.now_ns as number) - now)).toBeLessThan(60e9);
    expect(oursMeta.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(goMeta.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
