// Kuma's REST endpoints for the stored kinds, over real HTTP. Expected bodies and statuses are Kuma's
// (kumahq/kuma pkg/api-server testdata: resource-delete_not-found, resource_name-mesh, put_secret,
// list_global-secret, auth-admin-non-localhost golden files, and pkg/core/rest/errors/error_handler.go).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { resourceRoutes, type ResourceApiDeps } from '../../../src/resources/http.js';
import { ResourceStore, type KindDef } from '../../../src/resources/store.js';
import { RESOURCE_KINDS, ValidationError, type Authentication, type FieldViolation, type Resource, type User, type WriteRequest } from '../../../src/resources/types.js';
import { createRouter } from '../../../src/server/http.js';

const quiet = createLogger('error', { write: () => true });

const KINDS: KindDef[] = RESOURCE_KINDS.map((k) => ({
  ...k,
  validate: (r: Resource): FieldViolation[] => (k.type === 'OPAPolicy' && typeof r.conf !== 'object' ? [{ field: 'conf', message: 'must be defined' }] : []),
}));

const AUTHENTICATED = 'mesh-system:authenticated';

/** Bearer <name> is that user, `Bearer bad` an invalid token, no header the anonymous user. */
async function authenticate(req: { headers: Record<string, string | string[] | undefined> }): Promise<Authentication> {
  const header = req.headers.authorization;
  if (header === undefined) return { ok: true, user: { name: 'mesh-system:anonymous', groups: ['mesh-system:unauthenticated'] } };
  const name = String(header).replace(/^Bearer /, '');
  if (name === 'bad') return { ok: false, status: 401, message: 'token is expired' };
  return { ok: true, user: { name, groups: [AUTHENTICATED] } };
}

let store: ResourceStore;
let writes: WriteRequest[];
let refuseAdmission: Error | undefined;
let server: Server;
let base: string;

const deps = (): ResourceApiDeps => ({
  store,
  authenticate,
  log: quiet,
  authorize: (user: User, write: WriteRequest) => {
    writes.push(write);
    if (user.name === 'viewer') {
      const detail = `user "viewer/${AUTHENTICATED}" cannot access the resource`;
      return { allowed: false, message: `Access Denied (${detail})`, detail };
    }
    return { allowed: true };
  },
  readable: (_user, type, name) => !(type === 'GlobalSecret' && name === 'admin-user-token'),
});

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

let handler: ReturnType<typeof createRouter>;
beforeEach(() => {
  store = new ResourceStore({ kinds: KINDS, log: quiet, now: () => new Date(Date.UTC(2024, 4, 1, 12, 0, 0)), admit: async () => {
    if (refuseAdmission) throw refuseAdmission;
  } });
  writes = [];
  refuseAdmission = undefined;
  handler = createRouter({ routes: resourceRoutes(deps()), instrument: () => undefined, log: quiet });
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: unknown }> {
  const init: RequestInit = { method, headers: { 'content-type': 'application/json', ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

const POLICY = { type: 'OPAPolicy', mesh: 'default', name: 'opa-1', conf: { policies: [{ inlineString: 'package x' }] } };

function kumaError(status: number, title: string, detail: string, invalid?: FieldViolation[]): unknown {
  const body: Record<string, unknown> = { type: '/std-errors', status, title, detail };
  if (invalid) body.invalid_parameters = invalid.map((v) => ({ field: v.field, reason: v.message }));
  body.details = detail;
  if (invalid) body.causes = invalid.map((v) => ({ field: v.field, message: v.message }));
  return body;
}

describe('create, read, update, delete', () => {
  it('answers PUT 201 {} when created and 200 {} when updated, and GET the Universal resource with timestamps', async () => {
    expect(await call('PUT', '/meshes/default/opapolicies/opa-1', POLICY)).toMatchObject({ status: 201, text: '{}' });
    expect(await call('PUT', '/meshes/default/opapolicies/opa-1', { ...POLICY, creationTime: '2018-07-17T16:05:36.995Z' })).toMatchObject({ status: 200, text: '{}' });
    const got = await call('GET', '/meshes/default/opapolicies/opa-1');
    expect(got.status).toBe(200);
    // go-restful's MarshalIndent: one-space indentation, fields in Kuma's order.
    expect(got.text).toBe(
      '{\n "type": "OPAPolicy",\n "mesh": "default",\n "name": "opa-1",\n "creationTime": "2024-05-01T12:00:00.000Z",\n "modificationTime": "2024-05-01T12:00:00.000Z",\n' +
        ' "conf": {\n  "policies": [\n   {\n    "inlineString": "package x"\n   }\n  ]\n }\n}',
    );
  });

  it('shows a global kind without mesh, and a list as {total, items, next} sorted by name', async () => {
    for (const name of ['gs-2', 'gs-1']) expect((await call('PUT', `/global-secrets/${name}`, { type: 'GlobalSecret', name, data: 'Z3MtMQ==' })).status).toBe(201);
    const list = await call('GET', '/global-secrets');
    const item = (name: string) => ({ type: 'GlobalSecret', name, creationTime: '2024-05-01T12:00:00.000Z', modificationTime: '2024-05-01T12:00:00.000Z', data: 'Z3MtMQ==' });
    expect(list).toMatchObject({ status: 200, json: { total: 2, items: [item('gs-1'), item('gs-2')], next: null } });
    expect(Object.keys((list.json as { items: object[] }).items[0]!)).toEqual(['type', 'name', 'creationTime', 'modificationTime', 'data']);
  });

  it('pages with size and offset, linking the next page', async () => {
    for (const name of ['a', 'b', 'c']) await store.put({ ...POLICY, name }, 'api');
    const first = await call('GET', '/meshes/default/opapolicies?size=2');
    expect(first.json).toMatchObject({ total: 3, items: [{ name: 'a' }, { name: 'b' }], next: `${base}/meshes/default/opapolicies?offset=2&size=2` });
    const second = await call('GET', '/meshes/default/opapolicies?size=2&offset=2');
    expect(second.json).toMatchObject({ total: 3, items: [{ name: 'c' }], next: null });
    expect(await call('GET', '/meshes/default/opapolicies?size=0')).toMatchObject({ status: 400, json: kumaError(400, 'Could not retrieve resources', 'Invalid page size', [{ field: 'size', message: 'must be greater than 0' }]) });
  });

  it('lists only the resources of the mesh in the path', async () => {
    await store.put(POLICY, 'api');
    await store.put({ ...POLICY, mesh: 'other' }, 'api');
    expect((await call('GET', '/meshes/other/opapolicies')).json).toMatchObject({ total: 1, items: [{ mesh: 'other' }] });
  });

  it('deletes with 200 {}, then answers 404 to GET and DELETE as Kuma words them', async () => {
    await store.put(POLICY, 'api');
    expect(await call('DELETE', '/meshes/default/opapolicies/opa-1')).toMatchObject({ status: 200, text: '{}' });
    expect(await call('GET', '/meshes/default/opapolicies/opa-1')).toMatchObject({ status: 404, json: kumaError(404, 'Could not retrieve a resource', 'Not found') });
    expect(await call('DELETE', '/meshes/default/opapolicies/opa-1')).toMatchObject({ status: 404, json: kumaError(404, 'Could not delete a resource', 'Not found') });
  });

  it('accepts a YAML body when the Content-Type says yaml', async () => {
    const yaml = 'type: OPAPolicy\nmesh: default\nname: opa-1\nconf:\n  policies: []\n';
    expect((await call('PUT', '/meshes/default/opapolicies/opa-1', yaml, { 'content-type': 'application/yaml' })).status).toBe(201);
    expect(store.get('OPAPolicy', 'default', 'opa-1')?.resource.conf).toEqual({ policies: [] });
  });

  it('never serves what `readable` hides (global-secrets/admin-user-token), neither alone nor in a list', async () => {
    await store.put({ type: 'GlobalSecret', name: 'admin-user-token', data: 'c2VjcmV0' }, 'default');
    const got = await call('GET', '/global-secrets/admin-user-token');
    expect(got.status).toBe(403);
    expect(got.text).not.toContain('c2VjcmV0');
    expect((await call('GET', '/global-secrets')).json).toEqual({ total: 0, items: [], next: null });
  });
});

describe('refused requests', () => {
  it('answers 400 naming each field when the body disagrees with the path (name, mesh and type)', async () => {
    const res = await call('PUT', '/meshes/default/opapolicies/opa-1', { ...POLICY, type: 'Secret', mesh: 'other', name: 'opa-2' });
    expect(res).toMatchObject({
      status: 400,
      json: kumaError(400, 'Could not process a resource', 'Resource is not valid', [
        { field: 'name', message: 'name from the URL has to be the same as in body' },
        { field: 'type', message: 'type from the URL has to be the same as in body' },
        { field: 'mesh', message: 'mesh from the URL has to be the same as in body' },
      ]),
    });
    expect(store.list('OPAPolicy')).toEqual([]);
  });

  it('answers 400 for a bad name (upper case) and for a spec the kind refuses (no conf)', async () => {
    const bad = await call('PUT', '/meshes/default/opapolicies/Opa', { ...POLICY, name: 'Opa' });
    expect(bad.json).toMatchObject({ status: 400, invalid_parameters: [{ field: 'name', reason: expect.stringContaining('RFC 1123 subdomain') }] });
    const noConf = await call('PUT', '/meshes/default/opapolicies/opa-1', { type: 'OPAPolicy', mesh: 'default', name: 'opa-1' });
    expect(noConf.json).toMatchObject({ status: 400, invalid_parameters: [{ field: 'conf', reason: 'must be defined' }] });
  });

  it("answers 400 Bad Request with json.Unmarshal's message for bad JSON (a missing brace, a missing value, an empty body)", async () => {
    // Go 1.x: fmt.Sprintf("invalid %s object: %q", "OPAPolicy", json.Unmarshal(body, &m).Error()).
    const cases: Array<[string, string]> = [
      ['{"type": "OPAPolicy"', 'invalid OPAPolicy object: "unexpected end of JSON input"'],
      ['{"a":}', 'invalid OPAPolicy object: "invalid character \'}\' looking for beginning of value"'],
      ['', 'invalid OPAPolicy object: "unexpected end of JSON input"'],
    ];
    for (const [body, detail] of cases) {
      const res = await call('PUT', '/meshes/default/opapolicies/opa-1', body);
      expect(res).toMatchObject({ status: 400, json: { title: 'Bad Request', detail } });
    }
  });

  it('answers 413 for a body over 1 MiB', async () => {
    const res = await call('PUT', '/meshes/default/opapolicies/opa-1', { ...POLICY, conf: { pad: 'x'.repeat(1024 * 1024) } });
    expect(res.status).toBe(413);
    expect(store.list('OPAPolicy')).toEqual([]);
  });

  it('answers 404 listing the stored kinds for an unknown kind path (trafficpermissions) and for a global kind under a mesh', async () => {
    const res = await call('GET', '/meshes/default/trafficpermissions');
    expect(res.status).toBe(404);
    expect((res.json as { detail: string }).detail).toBe(
      'unknown resource path "trafficpermissions"; kmesh-opa stores OPAPolicy (/meshes/{mesh}/opapolicies), Secret (/meshes/{mesh}/secrets), ' +
        'GlobalSecret (/global-secrets), AccessRole (/access-roles), AccessRoleBinding (/access-role-bindings)',
    );
    expect((await call('GET', '/meshes/default/global-secrets/x')).status).toBe(404);
  });

  it('answers 401 with the authenticator message for a bad token, writing nothing', async () => {
    const res = await call('PUT', '/meshes/default/opapolicies/opa-1', POLICY, { authorization: 'Bearer bad' });
    expect(res).toMatchObject({ status: 401, json: { title: 'Invalid authentication data', detail: 'token is expired' } });
    expect(store.list('OPAPolicy')).toEqual([]);
  });

  it('answers 403 as Kuma words a denial, and leaves the store unchanged', async () => {
    await store.put(POLICY, 'api');
    const before = store.get('OPAPolicy', 'default', 'opa-1');
    const res = await call('PUT', '/meshes/default/opapolicies/opa-1', { ...POLICY, conf: {} }, { authorization: 'Bearer viewer' });
    expect(res).toMatchObject({ status: 403, json: kumaError(403, 'Access Denied', `user "viewer/${AUTHENTICATED}" cannot access the resource`) });
    expect(writes.at(-1)).toMatchObject({ access: 'UPDATE', type: 'OPAPolicy', mesh: 'default', name: 'opa-1', current: POLICY, next: { ...POLICY, conf: {} } });
    expect((await call('DELETE', '/meshes/default/opapolicies/opa-1', undefined, { authorization: 'Bearer viewer' })).status).toBe(403);
    expect(store.get('OPAPolicy', 'default', 'opa-1')).toEqual(before);
  });

  it("answers 400 with the admission error's text unchanged (an OPA compile error), and leaves the store unchanged", async () => {
    refuseAdmission = Object.assign(new Error('policy.rego:3:5: rego_parse_error: unexpected eof token'), { name: 'CompileError' });
    const res = await call('PUT', '/meshes/default/opapolicies/opa-1', POLICY);
    expect(res).toMatchObject({ status: 400, json: { title: 'Failed to create a resource', detail: 'policy.rego:3:5: rego_parse_error: unexpected eof token' } });
    refuseAdmission = new ValidationError([{ field: 'roles[0]', message: 'no such AccessRole' }]);
    const binding = await call('PUT', '/access-role-bindings/b', { type: 'AccessRoleBinding', name: 'b', roles: ['x'] });
    expect(binding.json).toEqual(kumaError(400, 'Failed to create a resource', 'Resource is not valid', [{ field: 'roles[0]', message: 'no such AccessRole' }]));
    expect(store.list('OPAPolicy')).toEqual([]);
    expect(store.list('AccessRoleBinding')).toEqual([]);
  });

  it('answers 409 to a write or delete of a resource owned by a directory file', async () => {
    await store.syncOrigin('file:/etc/kmesh/opa.yaml', [POLICY]);
    const res = await call('PUT', '/meshes/default/opapolicies/opa-1', { ...POLICY, conf: {} });
    expect(res).toMatchObject({ status: 409, json: kumaError(409, 'Conflict', 'resource opapolicies/default/opa-1 is managed by file /etc/kmesh/opa.yaml; edit the file') });
    expect((await call('DELETE', '/meshes/default/opapolicies/opa-1')).status).toBe(409);
    expect(store.get('OPAPolicy', 'default', 'opa-1')?.resource.conf).toEqual(POLICY.conf);
  });

  it('answers 405 to PUT on a list path', async () => {
    expect((await call('PUT', '/meshes/default/opapolicies', POLICY)).status).toBe(405);
  });
});
