// Kong Mesh RBAC on the agent's REST API, end to end over HTTP with real user tokens: the precreated
// defaults and their persistence, the walk-through of shared/seeds/rbac.txt with OPAPolicy in place of
// TrafficPermission, bad tokens, localhost-is-admin, open reads, and that a denied write changes nothing
// (neither the store nor what the agent enforces). Expected texts are Kong Mesh's (the seed and kumactl's).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyClient, httpRequest, type EnvoyClient } from '../helpers/envoy-client.js';
import { RBAC_PAGE } from '../helpers/seed-pages.js';
import { startAgent, type AgentProcess } from '../helpers/tools.js';

// --- HTTP -----------------------------------------------------------------------------------------

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
}

interface CallOptions {
  token?: string;
  body?: unknown;
  /** The body as given (for YAML), sent with this content type. */
  raw?: { text: string; contentType: string };
  headers?: Record<string, string>;
}

async function call(agent: AgentProcess, method: string, path: string, opts: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.raw) {
    headers['content-type'] = opts.raw.contentType;
    body = opts.raw.text;
  } else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(`${agent.restUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
}

/** A JSON PUT with the Host header given (fetch sets its own). */
function callWithHost(agent: AgentProcess, host: string, path: string, body: unknown): Promise<Answer> {
  const url = new URL(agent.restUrl);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'PUT', headers: { host, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? null, text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function json(answer: Answer): Record<string, unknown> {
  return JSON.parse(answer.text) as Record<string, unknown>;
}

/** What kumactl prints for a Kuma error document: `title (detail)`. */
function kumactlError(answer: Answer): string {
  const doc = json(answer);
  return `${String(doc.title)} (${String(doc.detail)})`;
}

const put = (agent: AgentProcess, path: string, resource: Record<string, unknown>, token?: string) =>
  call(agent, 'PUT', path, { body: resource, ...(token !== undefined ? { token } : {}) });

async function adminToken(agent: AgentProcess): Promise<string> {
  const answer = await call(agent, 'GET', '/global-secrets/admin-user-token');
  expect(answer.status).toBe(200);
  return Buffer.from(String(json(answer).data), 'base64').toString('utf8');
}

async function userToken(agent: AgentProcess, token: string, name: string, validFor: string): Promise<string> {
  const answer = await call(agent, 'POST', '/tokens/user', { token, body: { name, validFor } });
  expect(answer.status, answer.text).toBe(200);
  return answer.text;
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

// --- Resources ------------------------------------------------------------------------------------

const rule = (body: string) => `package envoy.authz\nimport rego.v1\n${body}\n`;

function opaPolicy(name: string, service: string, body = 'default allow := true'): Record<string, unknown> {
  return {
    type: 'OPAPolicy',
    mesh: 'default',
    name,
    selectors: [{ match: { 'kuma.io/service': service } }],
    conf: { policies: [{ inlineString: rule(body) }] },
  };
}

/** A policy body that lets only /public through. */
const ONLY_PUBLIC = 'default allow := false\nallow if input.attributes.request.http.path == "/public"';

const policyPath = (name: string) => `/meshes/default/opapolicies/${name}`;

const RESTRICTED_DEFAULT = { type: 'AccessRoleBinding', name: 'default', subjects: [{ type: 'Group', name: 'mesh-system:admin' }], roles: ['admin'] };

/** The seed's role and binding (step 4), with OPAPolicy for TrafficPermission and selectors for destinations. */
const BACKEND_OWNER_ROLE = {
  type: 'AccessRole',
  name: 'backend-owner',
  rules: [{ types: ['OPAPolicy'], mesh: 'default', access: ['CREATE', 'UPDATE', 'DELETE'], when: [{ selectors: { match: { 'kuma.io/service': 'backend' } } }] }],
};
const BACKEND_OWNERS_BINDING = { type: 'AccessRoleBinding', name: 'backend-owners', subjects: [{ type: 'User', name: 'backend-owner' }], roles: ['backend-owner'] };

const OWNER_DENIED = 'Access Denied (user "backend-owner/mesh-system:authenticated" cannot access the resource)';
const ANONYMOUS_DENIED = 'Access Denied (user "mesh-system:anonymous/mesh-system:unauthenticated" cannot access the resource)';

// --- Invariants -----------------------------------------------------------------------------------

const LISTS = ['/meshes/default/opapolicies', '/meshes/default/secrets', '/global-secrets', '/access-roles', '/access-role-bindings'];

/** Everything the store holds, read by the admin (secrets are readable only to those who may write them). */
async function storeSnapshot(agent: AgentProcess): Promise<string[]> {
  const token = await adminToken(agent);
  const out: string[] = [];
  for (const path of LISTS) {
    const answer = await call(agent, 'GET', path, { token });
    expect(answer.status, path).toBe(200);
    out.push(answer.text);
  }
  return out;
}

const PROBE_PATHS = ['/public', '/private', '/guarded'];

/** The gRPC status code of a check on each probe path: what the agent enforces. */
async function enforced(client: EnvoyClient): Promise<number[]> {
  const codes: number[] = [];
  for (const path of PROBE_PATHS) codes.push((await client.check(httpRequest({ method: 'GET', path }))).status?.code ?? 0);
  return codes;
}

/** Runs a write that must be refused with `status`, and shows that it left the store and the enforcement as they were. */
async function expectRefusedWithoutEffect(agent: AgentProcess, client: EnvoyClient, status: number, write: () => Promise<Answer>): Promise<Answer> {
  const storeBefore = await storeSnapshot(agent);
  const enforcedBefore = await enforced(client);
  const answer = await write();
  expect(answer.status, answer.text).toBe(status);
  expect(answer.contentType).toBe('application/json');
  // An accepted write is compiled before its answer and applied just after it; 300 ms is ample for that.
  await new Promise((r) => setTimeout(r, 300));
  expect(await storeSnapshot(agent)).toEqual(storeBefore);
  expect(await enforced(client)).toEqual(enforcedBefore);
  return answer;
}

const OK = 0;
const PERMISSION_DENIED = 7;

// --- Agents ---------------------------------------------------------------------------------------

/** The boot policy of the walk-through's agent: only /public passes. */
function bootPolicyFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kmesh-opa-rbac-')), 'boot.rego');
  writeFileSync(file, rule(ONLY_PUBLIC));
  return file;
}

const LOCALHOST_NOT_ADMIN = '--api-authn-localhost-is-admin=false';

let persisted: AgentProcess; // defaults and persistence, with its own --data-dir
let walk: AgentProcess; // the walk-through, serving kuma.io/service=other
let tokens: AgentProcess; // token checks, default binding left open
let local: AgentProcess; // localhost-is-admin on
let walkClient: EnvoyClient;
let tokensClient: EnvoyClient;
let localClient: EnvoyClient;
let dataDir: string;
/** A valid token of another agent (another signing key). */
let foreignToken: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'kmesh-opa-rbac-data-'));
  [persisted, walk, tokens, local] = await Promise.all([
    startAgent([LOCALHOST_NOT_ADMIN, '--data-dir', dataDir]),
    startAgent([LOCALHOST_NOT_ADMIN, '--dataplane-tags', 'kuma.io/service=other', bootPolicyFile()]),
    startAgent([LOCALHOST_NOT_ADMIN]),
    startAgent([]),
  ]);
  walkClient = envoyClient(walk.address);
  tokensClient = envoyClient(tokens.address);
  localClient = envoyClient(local.address);
  foreignToken = await adminToken(persisted);
}, 90_000);

afterAll(async () => {
  for (const client of [walkClient, tokensClient, localClient]) client?.close();
  await Promise.all([persisted, walk, tokens, local].map((a) => a?.stop()));
});

// --- 1. Defaults ----------------------------------------------------------------------------------

describe('precreated defaults', () => {
  it('has the admin role and the open default binding in Universal form, as the seed shows them', async () => {
    const role = await call(persisted, 'GET', '/access-roles/admin');
    expect(role.status).toBe(200);
    const roleDoc = json(role);
    expect(Object.keys(roleDoc)).toEqual(['type', 'name', 'creationTime', 'modificationTime', 'rules']);
    expect(roleDoc).toMatchObject({
      type: 'AccessRole',
      name: 'admin',
      rules: [{ access: ['CREATE', 'UPDATE', 'DELETE', 'GENERATE_DATAPLANE_TOKEN', 'GENERATE_USER_TOKEN', 'GENERATE_ZONE_CP_TOKEN'] }],
    });
    const binding = await call(persisted, 'GET', '/access-role-bindings/default');
    expect(binding.status).toBe(200);
    const bindingDoc = json(binding);
    expect(Object.keys(bindingDoc)).toEqual(['type', 'name', 'creationTime', 'modificationTime', 'subjects', 'roles']);
    expect(bindingDoc).toMatchObject({
      type: 'AccessRoleBinding',
      name: 'default',
      subjects: [
        { type: 'Group', name: 'mesh-system:authenticated' },
        { type: 'Group', name: 'mesh-system:unauthenticated' },
      ],
      roles: ['admin'],
    });
  });

  it('lets an anonymous caller write while the default binding is open (no token, localhost not admin)', async () => {
    expect((await put(persisted, policyPath('anonymous-write'), opaPolicy('anonymous-write', 'web'))).status).toBe(201);
    expect((await put(persisted, '/access-role-bindings/default', RESTRICTED_DEFAULT)).status).toBe(200);
  });

  it('keeps a changed default across a restart with the same --data-dir and does not re-create it', async () => {
    const before = json(await call(persisted, 'GET', '/access-role-bindings/default'));
    await persisted.stop();
    persisted = await startAgent([LOCALHOST_NOT_ADMIN, '--data-dir', dataDir]);
    const after = json(await call(persisted, 'GET', '/access-role-bindings/default'));
    expect(after).toEqual(before);
    expect(after.subjects).toEqual([{ type: 'Group', name: 'mesh-system:admin' }]);
    expect((await call(persisted, 'GET', policyPath('anonymous-write'))).status).toBe(200);
    // The restricted binding is in force: the anonymous caller who wrote before may not now.
    const client = envoyClient(persisted.address);
    try {
      const denied = await expectRefusedWithoutEffect(persisted, client, 403, () => put(persisted, policyPath('anonymous-write'), opaPolicy('anonymous-write', '*')));
      expect(kumactlError(denied)).toBe(ANONYMOUS_DENIED);
    } finally {
      client.close();
    }
    // The same signing key was kept: a token issued before the restart still identifies the admin.
    expect((await put(persisted, policyPath('anonymous-write'), opaPolicy('anonymous-write', 'web', 'default allow := false'), foreignToken)).status).toBe(200);
  }, 60_000);
});

// --- 2. The walk-through --------------------------------------------------------------------------

describe('the walk-through of rbac.txt with OPAPolicy, over HTTP (localhost not admin)', () => {
  let admin = '';
  let owner = '';

  it('1. reads the admin token from localhost as a GlobalSecret whose data is the base64 token', async () => {
    const answer = await call(walk, 'GET', '/global-secrets/admin-user-token');
    expect(answer.status).toBe(200);
    const doc = json(answer);
    expect(doc).toMatchObject({ type: 'GlobalSecret', name: 'admin-user-token' });
    admin = Buffer.from(String(doc.data), 'base64').toString('utf8');
    expect(payloadOf(admin)).toMatchObject({ Name: 'admin', Groups: ['mesh-system:admin'] });
  });

  it('2. generates the backend-owner token with the admin token (validFor 24h)', async () => {
    const answer = await call(walk, 'POST', '/tokens/user', { token: admin, body: { name: 'backend-owner', validFor: '24h' } });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('text/plain');
    owner = answer.text;
    const claims = payloadOf(owner);
    expect(claims).toMatchObject({ Name: 'backend-owner', Groups: [] });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(24 * 3600);
  });

  it('3. restricts the default binding to mesh-system:admin', async () => {
    expect((await put(walk, '/access-role-bindings/default', RESTRICTED_DEFAULT, admin)).status).toBe(200);
    expect(json(await call(walk, 'GET', '/access-role-bindings/default'))).toMatchObject(RESTRICTED_DEFAULT);
  });

  it('4. creates the backend-owner role and its binding', async () => {
    expect((await put(walk, '/access-roles/backend-owner', BACKEND_OWNER_ROLE, admin)).status).toBe(201);
    expect((await put(walk, '/access-role-bindings/backend-owners', BACKEND_OWNERS_BINDING, admin)).status).toBe(201);
  });

  it('5. as backend-owner: a policy for backend is created; one for other, and turning it to other, are refused and change nothing', async () => {
    expect(await enforced(walkClient)).toEqual([OK, PERMISSION_DENIED, PERMISSION_DENIED]);
    expect((await put(walk, policyPath('web-to-backend'), opaPolicy('web-to-backend', 'backend'), owner)).status).toBe(201);

    const create = await expectRefusedWithoutEffect(walk, walkClient, 403, () => put(walk, policyPath('web-to-other'), opaPolicy('web-to-other', 'other'), owner));
    expect(kumactlError(create)).toBe(OWNER_DENIED);
    expect(json(create)).toMatchObject({ type: '/std-errors', status: 403, title: 'Access Denied' });
    expect((await call(walk, 'GET', policyPath('web-to-other'))).status).toBe(404);

    const update = await expectRefusedWithoutEffect(walk, walkClient, 403, () => put(walk, policyPath('web-to-backend'), opaPolicy('web-to-backend', 'other'), owner));
    expect(kumactlError(update)).toBe(OWNER_DENIED);
    expect(json(await call(walk, 'GET', policyPath('web-to-backend')))).toMatchObject({ selectors: [{ match: { 'kuma.io/service': 'backend' } }] });
    // The boot policy is still what this data plane (kuma.io/service=other) gets.
    expect(await enforced(walkClient)).toEqual([OK, PERMISSION_DENIED, PERMISSION_DENIED]);

    // The owner's own policy may still be updated and deleted.
    expect((await put(walk, policyPath('web-to-backend'), opaPolicy('web-to-backend', 'backend', 'default allow := false'), owner)).status).toBe(200);
  });

  it('5. as backend-owner: deleting a policy that selects other is refused, and it stays enforced', async () => {
    expect((await put(walk, policyPath('guard-other'), opaPolicy('guard-other', 'other', 'default allow := false\nallow if input.attributes.request.http.path == "/guarded"'), admin)).status).toBe(201);
    await expect.poll(() => enforced(walkClient), { timeout: 10_000 }).toEqual([PERMISSION_DENIED, PERMISSION_DENIED, OK]);
    const answer = await expectRefusedWithoutEffect(walk, walkClient, 403, () => call(walk, 'DELETE', policyPath('guard-other'), { token: owner }));
    expect(kumactlError(answer)).toBe(OWNER_DENIED);
    expect(await enforced(walkClient)).toEqual([PERMISSION_DENIED, PERMISSION_DENIED, OK]);
  });

  it('the seed YAMLs verbatim: the TrafficPermission role is stored, a TrafficPermission is refused with the stored types', async () => {
    const yaml = (text: string) => ({ raw: { text, contentType: 'application/yaml' }, token: admin });
    expect((await call(walk, 'PUT', '/access-roles/backend-owner', yaml(RBAC_PAGE.walkthrough.step4Role))).status).toBe(200);
    expect((await call(walk, 'PUT', '/access-role-bindings/backend-owners', yaml(RBAC_PAGE.walkthrough.step4Binding))).status).toBe(200);
    const refused = await expectRefusedWithoutEffect(walk, walkClient, 404, () =>
      call(walk, 'PUT', '/meshes/default/traffic-permissions/web-to-backend', { raw: { text: RBAC_PAGE.walkthrough.step5Allowed, contentType: 'application/yaml' }, token: owner }),
    );
    expect(json(refused).detail).toBe(
      'unknown resource path "traffic-permissions"; kmesh-opa stores OPAPolicy (/meshes/{mesh}/opapolicies), Secret (/meshes/{mesh}/secrets), GlobalSecret (/global-secrets), AccessRole (/access-roles), AccessRoleBinding (/access-role-bindings)',
    );
    // With the TrafficPermission role, backend-owner no longer may touch OPAPolicies at all.
    const own = await expectRefusedWithoutEffect(walk, walkClient, 403, () => put(walk, policyPath('web-to-backend'), opaPolicy('web-to-backend', 'backend'), owner));
    expect(kumactlError(own)).toBe(OWNER_DENIED);
  });
});

// --- 3. Tokens ------------------------------------------------------------------------------------

describe('bad user tokens are refused with 401, never taken as anonymous', () => {
  let admin = '';
  let valid = '';
  const target = policyPath('token-target');
  /** What a bad token tries: a policy for every data plane that allows everything. */
  const write = (token: string) => () => put(tokens, target, opaPolicy('token-target', '*'), token);
  /** What the good writes keep in force. */
  const settle = (token?: string) => put(tokens, target, opaPolicy('token-target', '*', ONLY_PUBLIC), token);

  beforeAll(async () => {
    admin = await adminToken(tokens);
    valid = await userToken(tokens, admin, 'bob', '1h');
  });

  it('a valid token and no token may both write here (the default binding is open)', async () => {
    expect((await settle()).status).toBe(201);
    await expect.poll(() => enforced(tokensClient), { timeout: 10_000 }).toEqual([OK, PERMISSION_DENIED, PERMISSION_DENIED]);
    expect((await settle(valid)).status).toBe(200);
  });

  it('expired: a token valid for 3s, used after it ran out', async () => {
    // exp has whole seconds: 3s leaves at least 2 s for the first use, even on a busy machine.
    const shortLived = await userToken(tokens, admin, 'carol', '3s');
    expect((await settle(shortLived)).status).toBe(200);
    const { exp } = payloadOf(shortLived);
    await new Promise((r) => setTimeout(r, Number(exp) * 1000 - Date.now() + 1100));
    const answer = await expectRefusedWithoutEffect(tokens, tokensClient, 401, write(shortLived));
    expect(json(answer)).toMatchObject({ type: '/std-errors', status: 401 });
  });

  it('tampered: the payload of a valid token rewritten to name the admin, signature kept', async () => {
    const [header, , signature] = valid.split('.');
    const forged = `${header}.${segment({ ...payloadOf(valid), Name: 'admin', Groups: ['mesh-system:admin'] })}.${signature}`;
    await expectRefusedWithoutEffect(tokens, tokensClient, 401, write(forged));
  });

  it("signed by another agent's key (a valid admin token of another agent)", async () => {
    await expectRefusedWithoutEffect(tokens, tokensClient, 401, write(foreignToken));
  });

  it('malformed: not a JWT, two segments, garbage in each segment, a valid token with a byte appended', async () => {
    for (const token of ['not-a-token', 'abc.def', 'a.b.c', `${valid}x`]) {
      await expectRefusedWithoutEffect(tokens, tokensClient, 401, write(token));
    }
  });

  it('alg none: an unsigned token with a valid payload', async () => {
    const unsigned = `${segment({ alg: 'none', typ: 'JWT', kid: '1' })}.${segment(payloadOf(valid))}.`;
    await expectRefusedWithoutEffect(tokens, tokensClient, 401, write(unsigned));
  });

  it('bad tokens are refused on reads and on token generation too', async () => {
    expect((await call(tokens, 'GET', target, { token: 'a.b.c' })).status).toBe(401);
    expect((await call(tokens, 'POST', '/tokens/user', { token: 'a.b.c', body: { name: 'x', validFor: '1h' } })).status).toBe(401);
  });

  it('revoked: its id listed in the user-token-revocations GlobalSecret', async () => {
    const doomed = await userToken(tokens, admin, 'dave', '1h');
    expect((await settle(doomed)).status).toBe(200);
    const revocations = { type: 'GlobalSecret', name: 'user-token-revocations', data: Buffer.from(String(payloadOf(doomed).jti)).toString('base64') };
    expect((await put(tokens, '/global-secrets/user-token-revocations', revocations, admin)).status).toBe(201);
    await expectRefusedWithoutEffect(tokens, tokensClient, 401, write(doomed));
    // Only that token: bob's still works.
    expect((await settle(valid)).status).toBe(200);
  });
});

// --- 4. localhost-is-admin ------------------------------------------------------------------------

describe('localhost-is-admin', () => {
  const target = policyPath('local-target');
  /** What a caller who is not the admin tries: a policy for every data plane that allows everything. */
  const openEverything = opaPolicy('local-target', '*');

  it('on: a direct local call without a token is admin, even with the default binding restricted', async () => {
    expect((await put(local, '/access-role-bindings/default', RESTRICTED_DEFAULT)).status).toBe(200);
    expect((await put(local, target, opaPolicy('local-target', '*', ONLY_PUBLIC))).status).toBe(201);
    await expect.poll(() => enforced(localClient), { timeout: 10_000 }).toEqual([OK, PERMISSION_DENIED, PERMISSION_DENIED]);
  });

  it('on: a token on a direct local call is ignored (bad input: a malformed token), as Kuma checks localhost first', async () => {
    expect((await put(local, target, opaPolicy('local-target', '*', ONLY_PUBLIC), 'a.b.c')).status).toBe(200);
  });

  it('on: a local call relayed by a proxy (bad input: X-Forwarded-For) is not admin, and cannot read the admin token', async () => {
    const forwarded = { 'x-forwarded-for': '203.0.113.9' };
    const answer = await expectRefusedWithoutEffect(local, localClient, 403, () => call(local, 'PUT', target, { body: openEverything, headers: forwarded }));
    expect(kumactlError(answer)).toBe(ANONYMOUS_DENIED);
    expect((await call(local, 'GET', '/global-secrets/admin-user-token', { headers: forwarded })).status).toBe(403);
    // A relayed call authenticates by its token like any other.
    const admin = await adminToken(local);
    expect((await call(local, 'PUT', target, { body: opaPolicy('local-target', '*', ONLY_PUBLIC), headers: forwarded, token: admin })).status).toBe(200);
  });

  it('on: a local call naming another host (bad input: Host attacker.example, as DNS rebinding sends) is not admin', async () => {
    const answer = await expectRefusedWithoutEffect(local, localClient, 403, () => callWithHost(local, 'attacker.example', target, openEverything));
    expect(kumactlError(answer)).toBe(ANONYMOUS_DENIED);
  });

  it('on: a browser sending for another site (bad input: Origin http://attacker.example) is not admin', async () => {
    const answer = await expectRefusedWithoutEffect(local, localClient, 403, () => call(local, 'PUT', target, { body: openEverything, headers: { origin: 'http://attacker.example' } }));
    expect(kumactlError(answer)).toBe(ANONYMOUS_DENIED);
  });

  it('off: the same tokenless local write is denied once the default binding is restricted', async () => {
    // `walk` runs with --api-authn-localhost-is-admin=false and has its default binding restricted.
    const answer = await expectRefusedWithoutEffect(walk, walkClient, 403, () => put(walk, policyPath('local-target'), opaPolicy('local-target', 'other')));
    expect(kumactlError(answer)).toBe(ANONYMOUS_DENIED);
  });

  // Calls from another host cannot be made on the loopback-only test network; isLoopbackAddress's unit
  // tests cover how a non-loopback peer is told apart.
});

// --- 5. Open reads --------------------------------------------------------------------------------

describe('reads are open, writes are not', () => {
  it('an anonymous caller lists and gets OPAPolicies and AccessRoles while its writes are denied', async () => {
    const policies = await call(walk, 'GET', '/meshes/default/opapolicies');
    expect(policies.status).toBe(200);
    expect((json(policies).items as { name: string }[]).map((p) => p.name)).toEqual(['guard-other', 'web-to-backend']);
    expect((await call(walk, 'GET', policyPath('guard-other'))).status).toBe(200);
    const roles = await call(walk, 'GET', '/access-roles');
    expect(roles.status).toBe(200);
    expect((json(roles).items as { name: string }[]).map((r) => r.name)).toEqual(['admin', 'backend-owner']);
    expect((await call(walk, 'GET', '/access-roles/admin')).status).toBe(200);
    expect((await call(walk, 'GET', '/access-role-bindings')).status).toBe(200);
    await expectRefusedWithoutEffect(walk, walkClient, 403, () => call(walk, 'DELETE', policyPath('guard-other')));
  });

  it('access is checked before the spec is validated, as Kuma does (bad input: an OPAPolicy without conf)', async () => {
    const { conf: _conf, ...withoutConf } = opaPolicy('no-conf', 'other');
    const anonymous = await expectRefusedWithoutEffect(walk, walkClient, 403, () => put(walk, policyPath('no-conf'), withoutConf));
    expect(kumactlError(anonymous)).toBe(ANONYMOUS_DENIED);
    // Someone who may write it learns what is wrong with it.
    const admin = await expectRefusedWithoutEffect(walk, walkClient, 400, async () => put(walk, policyPath('no-conf'), withoutConf, await adminToken(walk)));
    expect(json(admin).invalid_parameters).toEqual([{ field: 'conf', reason: 'must be defined' }]);
  });

  it('backend-owner cannot grant itself more (bad input: its own binding to admin, its role widened)', async () => {
    const admin = await adminToken(walk);
    const owner = await userToken(walk, admin, 'backend-owner', '1h');
    const binding = { ...BACKEND_OWNERS_BINDING, roles: ['admin'] };
    expect(kumactlError(await expectRefusedWithoutEffect(walk, walkClient, 403, () => put(walk, '/access-role-bindings/backend-owners', binding, owner)))).toBe(OWNER_DENIED);
    const role = { ...BACKEND_OWNER_ROLE, rules: [{ access: ['CREATE', 'UPDATE', 'DELETE'] }] };
    expect(kumactlError(await expectRefusedWithoutEffect(walk, walkClient, 403, () => put(walk, '/access-roles/backend-owner', role, owner)))).toBe(OWNER_DENIED);
  });

  it('secrets are the exception: only who may write one may read it (bad input: anonymous, backend-owner)', async () => {
    const admin = await adminToken(walk);
    const secret = { type: 'Secret', mesh: 'default', name: 'db-password', data: Buffer.from('hunter2').toString('base64') };
    expect((await put(walk, '/meshes/default/secrets/db-password', secret, admin)).status).toBe(201);
    expect(json(await call(walk, 'GET', '/meshes/default/secrets/db-password', { token: admin }))).toMatchObject({ data: secret.data });
    const anonymous = await call(walk, 'GET', '/meshes/default/secrets/db-password');
    expect(anonymous.status).toBe(403);
    expect(kumactlError(anonymous)).toBe('Access Denied (user "mesh-system:anonymous/mesh-system:unauthenticated" cannot access the resource of type "Secret")');
    expect(json(await call(walk, 'GET', '/meshes/default/secrets'))).toEqual({ total: 0, items: [], next: null });
    const owner = await userToken(walk, admin, 'backend-owner', '1h');
    expect((await call(walk, 'GET', '/meshes/default/secrets/db-password', { token: owner })).status).toBe(403);
  });

  it('POST /tokens/user without GENERATE_USER_TOKEN is 403 (bad input: the backend-owner token, then no token)', async () => {
    const admin = await adminToken(walk);
    const owner = await userToken(walk, admin, 'backend-owner', '1h');
    const asOwner = await call(walk, 'POST', '/tokens/user', { token: owner, body: { name: 'mallory', validFor: '1h' } });
    expect(asOwner.status).toBe(403);
    expect(kumactlError(asOwner)).toBe(OWNER_DENIED);
    const anonymous = await call(walk, 'POST', '/tokens/user', { body: { name: 'mallory', validFor: '1h' } });
    expect(anonymous.status).toBe(403);
    expect(kumactlError(anonymous)).toBe(ANONYMOUS_DENIED);
  });
});
