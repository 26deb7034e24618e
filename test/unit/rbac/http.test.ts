// The token endpoints over real loopback HTTP, wired as the agent wires them: the project's router,
// authenticate() and the RBAC model with the page's default role and bindings.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import type { Resource } from '../../../src/resources/types.js';
import { tokenRoutes } from '../../../src/rbac/http.js';
import { authenticate } from '../../../src/rbac/identity.js';
import { DEFAULT_BINDING, DEFAULT_ROLE, authorize } from '../../../src/rbac/model.js';
import { UserTokens } from '../../../src/rbac/tokens.js';
import { createRouter } from '../../../src/server/http.js';

const RESTRICT_TO_ADMIN: Resource = { type: 'AccessRoleBinding', name: 'default', subjects: [{ type: 'Group', name: 'mesh-system:admin' }], roles: ['admin'] };

let dir: string;
let tokens: UserTokens;
let server: Server;
let port: number;
let localhostIsAdmin = true;
let bindings: Resource[] = [DEFAULT_BINDING];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbac-http-'));
  tokens = await UserTokens.open(dir);
  const log = createLogger('error', { write: () => true });
  const routes = tokenRoutes({
    tokens,
    authenticate: (req) => authenticate(req, { localhostIsAdmin, tokens }),
    authorize: (user, action) => authorize(user, action, [DEFAULT_ROLE], bindings),
    log,
  });
  server = createServer(createRouter({ routes, instrument: () => undefined, log }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  type: string | undefined;
  body: string;
}

function call(method: string, path: string, body?: string, headers: IncomingHttpHeaders = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `localhost:${port}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const generate = (body: unknown, headers: IncomingHttpHeaders = {}): Promise<Answer> =>
  call('POST', '/tokens/user', typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json', ...headers });

async function asUser(name: string): Promise<IncomingHttpHeaders> {
  return { authorization: `Bearer ${await tokens.issue({ name, groups: [], validForSeconds: 600 })}` };
}

function withSettings<T>(admin: boolean, b: Resource[], run: () => Promise<T>): Promise<T> {
  localhostIsAdmin = admin;
  bindings = b;
  return run().finally(() => {
    localhostIsAdmin = true;
    bindings = [DEFAULT_BINDING];
  });
}

describe('POST /tokens/user', () => {
  it('issues a text/plain token for the requested name and groups, valid for validFor', async () => {
    const answer = await generate({ name: 'backend-owner', groups: ['team-a'], validFor: '24h' });
    expect(answer.status).toBe(200);
    expect(answer.type).toBe('text/plain');
    expect(await tokens.verify(answer.body)).toEqual({ name: 'backend-owner', groups: ['team-a', 'mesh-system:authenticated'] });
    const claims = decodeJwt(answer.body);
    expect(claims.exp! - claims.iat!).toBe(86400);
  });

  it('a user bound to no role under the "restrict to admin" binding gets 403 with Kong Mesh\'s message', async () => {
    const answer = await withSettings(false, [RESTRICT_TO_ADMIN], async () => generate({ name: 'x', validFor: '1h' }, await asUser('bob')));
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toMatchObject({
      status: 403,
      title: 'Access Denied',
      detail: 'user "bob/mesh-system:authenticated" cannot access the resource',
    });
  });

  it('the admin token is allowed under the "restrict to admin" binding', async () => {
    const admin = await tokens.adminToken();
    const answer = await withSettings(false, [RESTRICT_TO_ADMIN], () => generate({ name: 'x', validFor: '1h' }, { authorization: `Bearer ${admin}` }));
    expect(answer.status).toBe(200);
  });

  it('a bad token "Bearer abc" is 401, not anonymous', async () => {
    const answer = await withSettings(false, [DEFAULT_BINDING], () => generate({ name: 'x', validFor: '1h' }, { authorization: 'Bearer abc' }));
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 401, title: 'Invalid authentication data', detail: 'token is malformed' });
  });

  it.each([
    [{ validFor: '1h' }, 'name', 'cannot be empty'],
    [{ name: 7, validFor: '1h' }, 'name', 'must be a string'],
    [{ name: 'x' }, 'validFor', 'cannot be empty'],
    [{ name: 'x', validFor: '0' }, 'validFor', 'cannot be empty or nil'],
    [{ name: 'x', validFor: '1d' }, 'validFor', 'is invalid: time: unknown unit "d" in duration "1d"'],
    [{ name: 'x', validFor: '-1h' }, 'validFor', 'must be positive'],
    [{ name: 'x', validFor: '1h', groups: 'team-a' }, 'groups', 'must be a list of strings'],
  ])('bad body %j is 400 naming %s', async (body, field, message) => {
    const answer = await generate(body);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({
      type: '/std-errors',
      status: 400,
      title: 'Invalid request',
      detail: 'Resource is not valid',
      invalid_parameters: [{ field, reason: message }],
      details: 'Resource is not valid',
      causes: [{ field, message }],
    });
  });

  it('a user named "<b>&co" is denied in a document indented and escaped as go-restful writes it', async () => {
    const answer = await withSettings(false, [RESTRICT_TO_ADMIN], async () => generate({ name: 'x', validFor: '1h' }, await asUser('<b>&co')));
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('\n "detail": "user \\"\\u003cb\\u003e\\u0026co/mesh-system:authenticated\\" cannot access the resource",\n');
  });

  it('a body that is not JSON ("{oops") is 400', async () => {
    const answer = await generate('{oops');
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).causes).toEqual([{ field: 'body', message: 'is not a JSON object' }]);
  });

  it('GET is 405 with Allow: POST', async () => {
    const answer = await call('GET', '/tokens/user');
    expect(answer.status).toBe(405);
  });
});

describe('GET /global-secrets/admin-user-token', () => {
  it('from localhost: a GlobalSecret whose base64 data is the admin token', async () => {
    const answer = await call('GET', '/global-secrets/admin-user-token');
    expect(answer.status).toBe(200);
    const secret = JSON.parse(answer.body) as Record<string, string>;
    const token = Buffer.from(secret.data!, 'base64').toString('utf8');
    expect(token).toBe(await tokens.adminToken());
    expect(secret).toMatchObject({ type: 'GlobalSecret', name: 'admin-user-token' });
    expect(secret.creationTime).toBe(new Date(decodeJwt(token).iat! * 1000).toISOString().replace('.000Z', 'Z'));
    expect(await tokens.verify(token)).toEqual({ name: 'admin', groups: ['mesh-system:admin', 'mesh-system:authenticated'] });
  });

  it('still served from localhost when localhost is not admin (step 1 of the walk-through)', async () => {
    const answer = await withSettings(false, [RESTRICT_TO_ADMIN], () => call('GET', '/global-secrets/admin-user-token'));
    expect(answer.status).toBe(200);
  });

  it('relayed by a proxy (X-Forwarded-For: 10.0.0.1) it is 403, even with the admin token', async () => {
    const admin = await tokens.adminToken();
    const answer = await call('GET', '/global-secrets/admin-user-token', undefined, { 'x-forwarded-for': '10.0.0.1', authorization: `Bearer ${admin}` });
    expect(answer.status).toBe(403);
    expect(answer.body).not.toContain(Buffer.from(admin).toString('base64'));
  });
});
