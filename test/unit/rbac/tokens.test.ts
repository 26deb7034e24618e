// User tokens: Kuma's claims and header, the signing key's life on disk, every way a token is refused,
// and revocation lists.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenError, UserTokens, revokedList } from '../../../src/rbac/tokens.js';

const T0 = Date.UTC(2030, 0, 1); // a fixed clock, in ms
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbac-tokens-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A clock the test moves. */
function clock(start = T0): { now: () => number; set(ms: number): void } {
  let t = start;
  return { now: () => t, set: (ms) => (t = ms) };
}

async function refusal(tokens: UserTokens, token: string, revoked?: (jti: string) => boolean): Promise<string> {
  const err = await tokens.verify(token, revoked).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenError);
  return (err as TokenError).message;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('issue and verify', () => {
  it('issues Kuma\'s claims: RS256, kid "1", Name, Groups, jti, iat, nbf five minutes back, exp', async () => {
    const tokens = await UserTokens.open(dir, { now: () => T0 });
    const token = await tokens.issue({ name: 'backend-owner', groups: ['team-a'], validForSeconds: 86400 });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: '1', typ: 'JWT' });
    const claims = decodeJwt(token);
    expect(Object.keys(claims)).toEqual(['Name', 'Groups', 'exp', 'nbf', 'iat', 'jti']);
    expect(claims).toMatchObject({ Name: 'backend-owner', Groups: ['team-a'], iat: T0 / 1000, nbf: T0 / 1000 - 300, exp: T0 / 1000 + 86400 });
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('verifies to the user with mesh-system:authenticated added', async () => {
    const tokens = await UserTokens.open(dir, { now: () => T0 });
    const token = await tokens.issue({ name: 'backend-owner', groups: ['team-a'], validForSeconds: 60 });
    expect(await tokens.verify(token)).toEqual({ name: 'backend-owner', groups: ['team-a', 'mesh-system:authenticated'] });
  });

  it('two tokens for the same user get different ids', async () => {
    const tokens = await UserTokens.open(dir, { now: () => T0 });
    const claims = { name: 'u', groups: [], validForSeconds: 60 };
    expect(decodeJwt(await tokens.issue(claims)).jti).not.toBe(decodeJwt(await tokens.issue(claims)).jti);
  });
});

describe('refused tokens (each with its own message)', () => {
  let tokens: UserTokens;
  let time: ReturnType<typeof clock>;
  let good: string;
  beforeEach(async () => {
    time = clock();
    tokens = await UserTokens.open(dir, { now: time.now });
    good = await tokens.issue({ name: 'u', groups: [], validForSeconds: 3600 });
  });

  it('malformed text "not-a-jwt"', async () => {
    expect(await refusal(tokens, 'not-a-jwt')).toBe('token is malformed');
  });
  it('a tampered payload (Name changed to admin) keeps the old signature', async () => {
    const [h, p, s] = good.split('.');
    const payload = { ...decodeJwt(good), Name: 'admin', Groups: ['mesh-system:admin'] };
    expect(p).not.toBe(b64(payload));
    expect(await refusal(tokens, `${h}.${b64(payload)}.${s}`)).toBe('token signature is invalid');
  });
  it('re-signed with another RSA key under the same kid', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const forged = await new SignJWT(decodeJwt(good)).setProtectedHeader({ alg: 'RS256', kid: '1', typ: 'JWT' }).sign(other);
    expect(await refusal(tokens, forged)).toBe('token signature is invalid');
  });
  it('signed by another key with its own kid "2"', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const forged = await new SignJWT(decodeJwt(good)).setProtectedHeader({ alg: 'RS256', kid: '2', typ: 'JWT' }).sign(other);
    expect(await refusal(tokens, forged)).toBe('token is signed by an unknown key (kid "2")');
  });
  it('a token from another agent\'s data directory', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'rbac-tokens-other-'));
    try {
      const stranger = await UserTokens.open(otherDir, { now: time.now });
      const token = await stranger.issue({ name: 'u', groups: [], validForSeconds: 3600 });
      expect(await refusal(tokens, token)).toBe('token signature is invalid');
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });
  it('alg "none" with an empty signature', async () => {
    const [, p] = good.split('.');
    expect(await refusal(tokens, `${b64({ alg: 'none', kid: '1', typ: 'JWT' })}.${p}.`)).toBe('token algorithm "none" is not allowed, only RS256');
  });
  it('alg HS256 keyed with the public key PEM (the classic confusion attack)', async () => {
    const pem = await readFile(join(dir, 'user-token-signing-key.pem'));
    const pub = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'pem' });
    const forged = await new SignJWT(decodeJwt(good)).setProtectedHeader({ alg: 'HS256', kid: '1' }).sign(Buffer.from(pub));
    expect(await refusal(tokens, forged)).toBe('token algorithm "HS256" is not allowed, only RS256');
  });
  it('expired: one second past exp', async () => {
    time.set(T0 + 3601_000);
    expect(await refusal(tokens, good)).toBe('token is expired');
  });
  it('not yet valid: more than five minutes before iat', async () => {
    time.set(T0 - 301_000);
    expect(await refusal(tokens, good)).toBe('token is not valid yet');
  });
  it('within the five-minute skew before iat it is accepted', async () => {
    time.set(T0 - 299_000);
    expect((await tokens.verify(good)).name).toBe('u');
  });
  it('revoked: its jti is on the list', async () => {
    const jti = decodeJwt(good).jti!;
    expect(await refusal(tokens, good, (id) => id === jti)).toBe('token is revoked');
    expect((await tokens.verify(good, (id) => id === 'someone-else')).name).toBe('u');
  });
});

describe('signing key on disk', () => {
  it('is created owner-only (file 0600, directory 0700) and reused by the next start', async () => {
    const data = join(dir, 'data');
    const first = await UserTokens.open(data, { now: () => T0 });
    expect((await stat(data)).mode & 0o777).toBe(0o700);
    expect((await stat(join(data, 'user-token-signing-key.pem'))).mode & 0o777).toBe(0o600);
    const token = await first.issue({ name: 'u', groups: [], validForSeconds: 60 });
    const second = await UserTokens.open(data, { now: () => T0 });
    expect((await second.verify(token)).name).toBe('u');
  });
  it('a key file readable by the group (0640) is refused with a clear error', async () => {
    await UserTokens.open(dir, { now: () => T0 });
    await chmod(join(dir, 'user-token-signing-key.pem'), 0o640);
    await expect(UserTokens.open(dir, { now: () => T0 })).rejects.toThrow(/is readable by others \(mode 640\).*chmod 600/);
  });
  it('a corrupt key file (not PEM) is refused with a clear error', async () => {
    await writeFile(join(dir, 'user-token-signing-key.pem'), 'garbage', { mode: 0o600 });
    await expect(UserTokens.open(dir, { now: () => T0 })).rejects.toThrow(/is not a valid PEM private key/);
  });
  it('an EC key file where an RSA key is expected is refused', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await writeFile(join(dir, 'user-token-signing-key.pem'), ec, { mode: 0o600 });
    await expect(UserTokens.open(dir, { now: () => T0 })).rejects.toThrow(/is a ec key, not RSA/);
  });
  it('two agents starting at once on an empty data directory end with one key (each verifies the other\'s tokens)', async () => {
    const [a, b] = await Promise.all([UserTokens.open(dir, { now: () => T0 }), UserTokens.open(dir, { now: () => T0 })]);
    expect((await b.verify(await a.issue({ name: 'from-a', groups: [], validForSeconds: 60 }))).name).toBe('from-a');
    expect((await a.verify(await b.issue({ name: 'from-b', groups: [], validForSeconds: 60 }))).name).toBe('from-b');
    expect((await readdir(dir)).sort()).toEqual(['admin-user-token', 'user-token-signing-key.pem']);
  });
});

describe('admin token', () => {
  it('is issued at first start for admin / mesh-system:admin, kept owner-only, and the same after a restart', async () => {
    const first = await UserTokens.open(dir, { now: () => T0 });
    const token = await first.adminToken();
    expect(await first.verify(token)).toEqual({ name: 'admin', groups: ['mesh-system:admin', 'mesh-system:authenticated'] });
    expect(decodeJwt(token).exp).toBe(T0 / 1000 + 10 * 365 * 24 * 3600);
    expect((await readFile(join(dir, 'admin-user-token'), 'utf8')).trim()).toBe(token);
    expect((await stat(join(dir, 'admin-user-token'))).mode & 0o777).toBe(0o600);
    const second = await UserTokens.open(dir, { now: () => T0 + 1000 });
    expect(await second.adminToken()).toBe(token);
  });
  it('is re-issued at start when the kept one has expired', async () => {
    const old = await (await UserTokens.open(dir, { now: () => T0 })).adminToken();
    const later = T0 + 11 * 365 * 24 * 3600 * 1000;
    const renewed = await (await UserTokens.open(dir, { now: () => later })).adminToken();
    expect(renewed).not.toBe(old);
    expect(decodeJwt(renewed).iat).toBe(later / 1000);
  });
  it('is re-issued at start when the kept file holds garbage', async () => {
    await UserTokens.open(dir, { now: () => T0 });
    await writeFile(join(dir, 'admin-user-token'), 'garbage');
    const tokens = await UserTokens.open(dir, { now: () => T0 });
    const token = await tokens.adminToken();
    expect(token).not.toBe('garbage');
    expect((await tokens.verify(token)).name).toBe('admin');
  });
  it('re-issued over a garbage file left readable by all (0644): the new file is 0600 and no temporary file is left', async () => {
    await UserTokens.open(dir, { now: () => T0 });
    await writeFile(join(dir, 'admin-user-token'), 'garbage');
    await chmod(join(dir, 'admin-user-token'), 0o644);
    const token = await (await UserTokens.open(dir, { now: () => T0 })).adminToken();
    expect(await readFile(join(dir, 'admin-user-token'), 'utf8')).toBe(token);
    expect((await stat(join(dir, 'admin-user-token'))).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).sort()).toEqual(['admin-user-token', 'user-token-signing-key.pem']);
  });
});

describe('revokedList', () => {
  it('reads the comma-separated ids of the user-token-revocations GlobalSecret', () => {
    const data = Buffer.from('id-1,id-2,id-3').toString('base64');
    expect(revokedList({ type: 'GlobalSecret', name: 'user-token-revocations', data })).toEqual(new Set(['id-1', 'id-2', 'id-3']));
  });
  it('no secret, or one without data, revokes nothing', () => {
    expect(revokedList(undefined).size).toBe(0);
    expect(revokedList({ type: 'GlobalSecret', name: 'user-token-revocations' }).size).toBe(0);
  });
});
