// Who a REST caller is, over real loopback HTTP: the localhost admin (Kuma's direct-loopback rules),
// Bearer user tokens, anonymous callers, and 401 for tokens that name no one.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, isLoopbackAddress } from '../../../src/rbac/identity.js';
import { UserTokens } from '../../../src/rbac/tokens.js';

let dir: string;
let tokens: UserTokens;
let server: Server;
let port: number;
let localhostIsAdmin = true;
let revokedIds = new Set<string>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbac-identity-'));
  tokens = await UserTokens.open(dir);
  server = createServer((req, res) => {
    authenticate(req, { localhostIsAdmin, tokens, revoked: (jti) => revokedIds.has(jti) }).then((authn) => res.end(JSON.stringify(authn)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

function who(headers: IncomingHttpHeaders = {}, opts: { admin?: boolean; from?: string } = {}): Promise<unknown> {
  localhostIsAdmin = opts.admin ?? true;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers, localAddress: opts.from }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
    req.end();
  });
}

const ADMIN = { ok: true, user: { name: 'admin', groups: ['mesh-system:admin', 'mesh-system:authenticated'] } };
const ANONYMOUS = { ok: true, user: { name: 'mesh-system:anonymous', groups: ['mesh-system:unauthenticated'] } };
const bearer = (token: string): IncomingHttpHeaders => ({ authorization: `Bearer ${token}` });

describe('localhost is admin', () => {
  it('a direct call from 127.0.0.1 without a token is the admin', async () => {
    expect(await who()).toEqual(ADMIN);
  });
  it('with Host: localhost:5681 (as curl http://localhost:5681 sends) it is the admin', async () => {
    expect(await who({ host: 'localhost:5681' })).toEqual(ADMIN);
  });
  it('a valid token from localhost does not change that (Kuma checks localhost first)', async () => {
    const token = await tokens.issue({ name: 'backend-owner', groups: [], validForSeconds: 60 });
    expect(await who(bearer(token))).toEqual(ADMIN);
  });
  it('X-Forwarded-For: 10.0.0.1 (a local proxy relaying someone) is not the admin', async () => {
    expect(await who({ 'x-forwarded-for': '10.0.0.1' })).toEqual(ANONYMOUS);
  });
  it('Forwarded and X-Real-IP headers are not the admin either', async () => {
    expect(await who({ forwarded: 'for=10.0.0.1' })).toEqual(ANONYMOUS);
    expect(await who({ 'x-real-ip': '10.0.0.1' })).toEqual(ANONYMOUS);
  });
  it('Host: cp.example.com (DNS rebinding) is not the admin', async () => {
    expect(await who({ host: 'cp.example.com:5681' })).toEqual(ANONYMOUS);
  });
  it('a browser call from Origin http://evil.example is not the admin; a same-origin loopback one is', async () => {
    expect(await who({ origin: 'http://evil.example' })).toEqual(ANONYMOUS);
    expect(await who({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` })).toEqual(ADMIN);
  });
  it('Sec-Fetch-Site: cross-site is not the admin', async () => {
    expect(await who({ 'sec-fetch-site': 'cross-site' })).toEqual(ANONYMOUS);
  });
  it('a call from a second loopback address, 127.0.0.2, is still local', async () => {
    expect(await who({}, { from: '127.0.0.2' })).toEqual(ADMIN);
  });
});

describe('localhost is not admin', () => {
  it('no token: anonymous', async () => {
    expect(await who({}, { admin: false })).toEqual(ANONYMOUS);
  });
  it('a valid token: its user, in mesh-system:authenticated', async () => {
    const token = await tokens.issue({ name: 'backend-owner', groups: ['team-a'], validForSeconds: 60 });
    expect(await who(bearer(token), { admin: false })).toEqual({ ok: true, user: { name: 'backend-owner', groups: ['team-a', 'mesh-system:authenticated'] } });
  });
  it('a garbage token "abc" is 401, never anonymous', async () => {
    expect(await who(bearer('abc'), { admin: false })).toEqual({ ok: false, status: 401, message: 'token is malformed' });
  });
  it('a revoked token is 401', async () => {
    const token = await tokens.issue({ name: 'u', groups: [], validForSeconds: 60 });
    revokedIds = new Set([JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string]);
    try {
      expect(await who(bearer(token), { admin: false })).toEqual({ ok: false, status: 401, message: 'token is revoked' });
    } finally {
      revokedIds = new Set();
    }
  });
  it('a Basic authorization header is not a token: anonymous', async () => {
    expect(await who({ authorization: 'Basic YWRtaW46YWRtaW4=' }, { admin: false })).toEqual(ANONYMOUS);
  });
});

describe('isLoopbackAddress', () => {
  it.each(['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '::ffff:127.0.0.1', '[::1]'])('%s is loopback', (a) => {
    expect(isLoopbackAddress(a)).toBe(true);
  });
  it.each(['10.0.0.1', '::ffff:10.0.0.1', '2001:db8::1', '0.0.0.0', '::', '128.0.0.1', 'localhost', 'not-an-ip', ''])('%j is not', (a) => {
    expect(isLoopbackAddress(a)).toBe(false);
  });
});
