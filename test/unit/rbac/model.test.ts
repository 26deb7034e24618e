// Kong Mesh RBAC decisions, judged on the roles and bindings of the "Role-Based Access Control" page
// (/work/shared/seeds/rbac.txt), copied verbatim: the page is the spec.
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { Resource, User, WriteRequest } from '../../../src/resources/types.js';
import {
  DEFAULT_BINDING,
  DEFAULT_ROLE,
  accessDenied,
  deniedDetail,
  authorize,
  validateAccessRole,
  validateAccessRoleBinding,
  type Action,
} from '../../../src/rbac/model.js';
import { RBAC_PAGE } from '../../helpers/seed-pages.js';

const res = (text: string): Resource => parse(text) as Resource;
const docs = (text: string): Resource[] => parseAllDocuments(text).map((d) => d.toJSON() as Resource);

/** A token user: its groups plus the group Kuma adds to everyone authenticated. */
const tokenUser = (name: string, ...groups: string[]): User => ({ name, groups: [...groups, 'mesh-system:authenticated'] });
const ANONYMOUS: User = { name: 'mesh-system:anonymous', groups: ['mesh-system:unauthenticated'] };
const LOCAL_ADMIN: User = { name: 'admin', groups: ['mesh-system:admin', 'mesh-system:authenticated'] };

function bindTo(user: string, role: string): Resource {
  return { type: 'AccessRoleBinding', name: `${user}-binding`, subjects: [{ type: 'User', name: user }], roles: [role] };
}

function create(resource: Resource): WriteRequest {
  return { access: 'CREATE', type: resource.type, mesh: resource.mesh, name: resource.name, next: resource };
}
function del(resource: Resource): WriteRequest {
  return { access: 'DELETE', type: resource.type, mesh: resource.mesh, name: resource.name, current: resource };
}
function update(current: Resource, next: Resource): WriteRequest {
  return { access: 'UPDATE', type: next.type, mesh: next.mesh, name: next.name, current, next };
}

function policy(type: string, mesh: string | undefined, name: string, sections: Record<string, Record<string, string>[]>): Resource {
  const r: Resource = { type, name, ...(mesh === undefined ? {} : { mesh }) };
  for (const [section, matches] of Object.entries(sections)) r[section] = matches.map((match) => ({ match }));
  return r;
}

/** Whether `user`, bound to `roleYaml` alone (no default binding), may do `action`. */
function allowedFor(roleYaml: string, action: Action, user: User = tokenUser('someone')): boolean {
  const role = res(roleYaml);
  return authorize(user, action, [role], [bindTo(user.name, role.name)]).allowed;
}

describe('the page\'s YAML is valid', () => {
  it.each([RBAC_PAGE.role1, RBAC_PAGE.admin, RBAC_PAGE.backendOwner, RBAC_PAGE.observabilityOperator, RBAC_PAGE.demoMeshOperator, RBAC_PAGE.walkthrough.step4Role])('AccessRole %#', (text) => {
    expect(validateAccessRole(res(text))).toEqual([]);
  });
  it.each([RBAC_PAGE.binding1, RBAC_PAGE.walkthrough.step3Binding, RBAC_PAGE.walkthrough.step4Binding])('AccessRoleBinding %#', (text) => {
    expect(validateAccessRoleBinding(res(text))).toEqual([]);
  });
  it('the defaults are the page\'s defaults, field for field', () => {
    const [role, binding] = docs(RBAC_PAGE.defaults);
    expect(DEFAULT_ROLE).toEqual(role);
    expect(DEFAULT_BINDING).toEqual(binding);
  });
});

describe('admin role', () => {
  const writes: Action[] = [
    create(policy('TrafficPermission', 'default', 'any', { destinations: [{ 'kuma.io/service': '*' }] })),
    del({ type: 'Mesh', name: 'default' }),
    update({ type: 'GlobalSecret', name: 's', data: 'YQ==' }, { type: 'GlobalSecret', name: 's', data: 'Yg==' }),
    { access: 'GENERATE_USER_TOKEN' },
    { access: 'GENERATE_ZONE_CP_TOKEN' },
    { access: 'GENERATE_DATAPLANE_TOKEN', mesh: 'other', tags: { 'kuma.io/service': 'anything' } },
  ];
  it.each(writes)('may do anything: %j', (action) => {
    expect(allowedFor(RBAC_PAGE.admin, action)).toBe(true);
  });
});

describe('backend-owner role', () => {
  const allowed = (action: Action): boolean => allowedFor(RBAC_PAGE.backendOwner, action);

  it('TrafficPermission whose destinations are backend is allowed; to other is denied', () => {
    expect(allowed(create(policy('TrafficPermission', 'default', 'tp', { sources: [{ 'kuma.io/service': 'web' }], destinations: [{ 'kuma.io/service': 'backend' }] })))).toBe(true);
    expect(allowed(create(policy('TrafficPermission', 'default', 'tp', { sources: [{ 'kuma.io/service': 'web' }], destinations: [{ 'kuma.io/service': 'other' }] })))).toBe(false);
  });
  it('a destination of \'*\' does not count as backend', () => {
    expect(allowed(create(policy('TrafficPermission', 'default', 'tp', { destinations: [{ 'kuma.io/service': '*' }] })))).toBe(false);
  });
  it('every destination must be backend: backend plus other is denied', () => {
    expect(allowed(create(policy('TrafficPermission', 'default', 'tp', { destinations: [{ 'kuma.io/service': 'backend' }, { 'kuma.io/service': 'other' }] })))).toBe(false);
  });
  it('extra tags beside kuma.io/service: backend still match', () => {
    expect(allowed(create(policy('TrafficPermission', 'default', 'tp', { destinations: [{ 'kuma.io/service': 'backend', version: 'v2' }] })))).toBe(true);
  });
  it('a TrafficPermission without destinations is denied (the condition needs the section)', () => {
    expect(allowed(create(policy('TrafficPermission', 'default', 'tp', { sources: [{ 'kuma.io/service': 'backend' }] })))).toBe(false);
  });
  it('the same TrafficPermission in another mesh is denied', () => {
    expect(allowed(create(policy('TrafficPermission', 'other', 'tp', { destinations: [{ 'kuma.io/service': 'backend' }] })))).toBe(false);
  });
  it('RateLimit to backend is allowed, to other denied', () => {
    expect(allowed(del(policy('RateLimit', 'default', 'rl', { sources: [{ 'kuma.io/service': '*' }], destinations: [{ 'kuma.io/service': 'backend' }] })))).toBe(true);
    expect(allowed(del(policy('RateLimit', 'default', 'rl', { sources: [{ 'kuma.io/service': 'backend' }], destinations: [{ 'kuma.io/service': 'other' }] })))).toBe(false);
  });
  it('TrafficRoute with sources backend OR destinations backend is allowed; neither is denied', () => {
    expect(allowed(create(policy('TrafficRoute', 'default', 'tr', { sources: [{ 'kuma.io/service': 'backend' }], destinations: [{ 'kuma.io/service': 'redis' }] })))).toBe(true);
    expect(allowed(create(policy('TrafficRoute', 'default', 'tr', { sources: [{ 'kuma.io/service': 'web' }], destinations: [{ 'kuma.io/service': 'backend' }] })))).toBe(true);
    expect(allowed(create(policy('TrafficRoute', 'default', 'tr', { sources: [{ 'kuma.io/service': 'web' }], destinations: [{ 'kuma.io/service': 'redis' }] })))).toBe(false);
  });
  it('TrafficTrace selecting backend is allowed; selecting other is denied', () => {
    expect(allowed(create(policy('TrafficTrace', 'default', 'tt', { selectors: [{ 'kuma.io/service': 'backend' }] })))).toBe(true);
    expect(allowed(create(policy('TrafficTrace', 'default', 'tt', { selectors: [{ 'kuma.io/service': 'other' }] })))).toBe(false);
  });
  it('types outside its rules (Mesh, TrafficLog in another mesh, OPAPolicy) are denied', () => {
    expect(allowed(create({ type: 'Mesh', name: 'default' }))).toBe(false);
    expect(allowed(create(policy('OPAPolicy', 'default', 'p', { selectors: [{ 'kuma.io/service': 'backend' }] })))).toBe(false);
    expect(allowed(create(policy('TrafficLog', 'demo', 'tl', { sources: [{ 'kuma.io/service': 'backend' }] })))).toBe(false);
  });
  it('token generation is not granted', () => {
    expect(allowed({ access: 'GENERATE_USER_TOKEN' })).toBe(false);
    expect(allowed({ access: 'GENERATE_DATAPLANE_TOKEN', mesh: 'default', tags: { 'kuma.io/service': 'backend' } })).toBe(false);
  });
  it('UPDATE from an allowed TrafficPermission to one for other is denied, and back again too', () => {
    const mine = policy('TrafficPermission', 'default', 'tp', { destinations: [{ 'kuma.io/service': 'backend' }] });
    const theirs = policy('TrafficPermission', 'default', 'tp', { destinations: [{ 'kuma.io/service': 'other' }] });
    expect(allowed(update(mine, mine))).toBe(true);
    expect(allowed(update(mine, theirs))).toBe(false);
    expect(allowed(update(theirs, mine))).toBe(false);
  });
});

describe('observability-operator role', () => {
  const allowed = (action: Action): boolean => allowedFor(RBAC_PAGE.observabilityOperator, action);
  it('TrafficLog and TrafficTrace in any mesh', () => {
    expect(allowed(create(policy('TrafficLog', 'default', 'tl', { sources: [{ 'kuma.io/service': '*' }] })))).toBe(true);
    expect(allowed(update(policy('TrafficTrace', 'prod', 'tt', {}), policy('TrafficTrace', 'prod', 'tt', { selectors: [{ 'kuma.io/service': '*' }] })))).toBe(true);
  });
  it('any Mesh object', () => {
    expect(allowed(create({ type: 'Mesh', name: 'anything' }))).toBe(true);
    expect(allowed(del({ type: 'Mesh', name: 'default' }))).toBe(true);
  });
  it('not other types, nor tokens', () => {
    expect(allowed(create(policy('TrafficPermission', 'default', 'tp', {})))).toBe(false);
    expect(allowed(create({ type: 'GlobalSecret', name: 'x' }))).toBe(false);
    expect(allowed({ access: 'GENERATE_USER_TOKEN' })).toBe(false);
  });
  it('mesh \'*\' does not reach a global type: TrafficLog without a mesh is denied', () => {
    expect(allowed(create({ type: 'TrafficLog', name: 'global-log' }))).toBe(false);
  });
});

describe('demo-mesh-operator role', () => {
  const allowed = (action: Action): boolean => allowedFor(RBAC_PAGE.demoMeshOperator, action);
  it('every resource in the demo mesh', () => {
    expect(allowed(create(policy('TrafficPermission', 'demo', 'tp', { destinations: [{ 'kuma.io/service': '*' }] })))).toBe(true);
    expect(allowed(del({ type: 'Secret', mesh: 'demo', name: 's' }))).toBe(true);
    expect(allowed(create(policy('OPAPolicy', 'demo', 'p', { selectors: [{ 'kuma.io/service': '*' }] })))).toBe(true);
  });
  it('the Mesh named demo only; the Mesh named other is denied', () => {
    expect(allowed(update({ type: 'Mesh', name: 'demo' }, { type: 'Mesh', name: 'demo', mtls: {} }))).toBe(true);
    expect(allowed(create({ type: 'Mesh', name: 'other' }))).toBe(false);
  });
  it('nothing in the default mesh, no global resources', () => {
    expect(allowed(create(policy('TrafficPermission', 'default', 'tp', {})))).toBe(false);
    expect(allowed(create({ type: 'GlobalSecret', name: 'g' }))).toBe(false);
  });
});

describe('role-1 (the reference example) and binding-1', () => {
  const [role, binding] = [res(RBAC_PAGE.role1), res(RBAC_PAGE.binding1)];
  const judge = (user: User, action: Action): boolean => authorize(user, action, [role], [binding]).allowed;
  const john = tokenUser('john.doe@example.com');
  const teamA = tokenUser('jane', 'team-a');
  it('binds the named user and the group team-a; nobody else', () => {
    const tr = create(policy('TrafficRoute', 'default', 'res-1', { sources: [{ 'kuma.io/service': 'web' }], destinations: [{ 'kuma.io/service': 'backend' }] }));
    expect(judge(john, tr)).toBe(true);
    expect(judge(teamA, tr)).toBe(true);
    expect(judge(tokenUser('mallory', 'team-b'), tr)).toBe(false);
  });
  it('a when entry needs all its parts: sources web with destinations redis is denied', () => {
    expect(judge(john, create(policy('TrafficRoute', 'default', 'res-1', { sources: [{ 'kuma.io/service': 'web' }], destinations: [{ 'kuma.io/service': 'redis' }] })))).toBe(false);
  });
  it('names restrict: the same TrafficRoute named res-2 is denied', () => {
    expect(judge(john, create(policy('TrafficRoute', 'default', 'res-2', { sources: [{ 'kuma.io/service': 'web' }], destinations: [{ 'kuma.io/service': 'backend' }] })))).toBe(false);
  });
  it('dpToken: a data-plane token for web in default is allowed, for backend or in another mesh denied', () => {
    expect(judge(john, { access: 'GENERATE_DATAPLANE_TOKEN', mesh: 'default', tags: { 'kuma.io/service': 'web' } })).toBe(true);
    expect(judge(john, { access: 'GENERATE_DATAPLANE_TOKEN', mesh: 'default', tags: { 'kuma.io/service': 'backend' } })).toBe(false);
    expect(judge(john, { access: 'GENERATE_DATAPLANE_TOKEN', mesh: 'other', tags: { 'kuma.io/service': 'web' } })).toBe(false);
  });
  it('a rule scoped to a mesh grants no global token generation', () => {
    expect(judge(john, { access: 'GENERATE_USER_TOKEN' })).toBe(false);
    expect(judge(john, { access: 'GENERATE_ZONE_CP_TOKEN' })).toBe(false);
  });
});

describe('selectors condition on OPAPolicy', () => {
  const ROLE = `type: AccessRole
name: opa-backend
rules:
- mesh: default
  types: ["OPAPolicy"]
  access: ["CREATE", "UPDATE", "DELETE"]
  when:
  - selectors:
      match:
        kuma.io/service: backend
`;
  it('selectors kuma.io/service: backend is allowed; other is denied', () => {
    expect(allowedFor(ROLE, create(policy('OPAPolicy', 'default', 'p', { selectors: [{ 'kuma.io/service': 'backend' }] })))).toBe(true);
    expect(allowedFor(ROLE, create(policy('OPAPolicy', 'default', 'p', { selectors: [{ 'kuma.io/service': 'other' }] })))).toBe(false);
  });
  it('an OPAPolicy with no selectors at all is denied', () => {
    expect(allowedFor(ROLE, create({ type: 'OPAPolicy', mesh: 'default', name: 'p', conf: {} }))).toBe(false);
  });
});

describe('the five-step walk-through', () => {
  const roles = [res(RBAC_PAGE.admin), res(RBAC_PAGE.walkthrough.step4Role)];
  const bindings = [res(RBAC_PAGE.walkthrough.step3Binding), res(RBAC_PAGE.walkthrough.step4Binding)];
  const backendOwner = tokenUser('backend-owner');

  it('web-to-backend is allowed for backend-owner', () => {
    expect(authorize(backendOwner, create(res(RBAC_PAGE.walkthrough.step5Allowed)), roles, bindings)).toEqual({ allowed: true });
  });
  it('web-to-other is denied with the page\'s exact message', () => {
    expect(authorize(backendOwner, update(res(RBAC_PAGE.walkthrough.step5Allowed), res(RBAC_PAGE.walkthrough.step5Denied)), roles, bindings)).toEqual({
      allowed: false,
      message: 'Access Denied (user "backend-owner/mesh-system:authenticated" cannot access the resource)',
      detail: 'user "backend-owner/mesh-system:authenticated" cannot access the resource',
    });
  });
  it('after step 3 an anonymous caller is denied, the localhost admin is not', () => {
    expect(authorize(ANONYMOUS, create(res(RBAC_PAGE.walkthrough.step5Allowed)), roles, bindings).allowed).toBe(false);
    expect(authorize(LOCAL_ADMIN, create(res(RBAC_PAGE.walkthrough.step5Denied)), roles, bindings).allowed).toBe(true);
  });
});

describe('default role and binding', () => {
  const judge = (user: User, action: Action): boolean => authorize(user, action, [DEFAULT_ROLE], [DEFAULT_BINDING]).allowed;
  it('grant everything to anonymous and authenticated callers alike', () => {
    expect(judge(ANONYMOUS, create({ type: 'GlobalSecret', name: 'x' }))).toBe(true);
    expect(judge(tokenUser('bob'), { access: 'GENERATE_USER_TOKEN' })).toBe(true);
  });
  it('a user in neither group (no token, no anonymous group) is denied', () => {
    expect(judge({ name: 'odd', groups: [] }, { access: 'GENERATE_USER_TOKEN' })).toBe(false);
  });
  it('"restrict to admin" binding: only mesh-system:admin keeps access', () => {
    const bindings = [res(RBAC_PAGE.walkthrough.step3Binding)];
    expect(authorize(LOCAL_ADMIN, { access: 'GENERATE_USER_TOKEN' }, [DEFAULT_ROLE], bindings).allowed).toBe(true);
    expect(authorize(tokenUser('bob'), { access: 'GENERATE_USER_TOKEN' }, [DEFAULT_ROLE], bindings)).toEqual({
      allowed: false,
      message: 'Access Denied (user "bob/mesh-system:authenticated" cannot access the resource)',
      detail: 'user "bob/mesh-system:authenticated" cannot access the resource',
    });
    expect(authorize(ANONYMOUS, create({ type: 'Mesh', name: 'm' }), [DEFAULT_ROLE], bindings).allowed).toBe(false);
  });
  it('a binding naming an absent role grants nothing', () => {
    expect(authorize(tokenUser('bob'), { access: 'GENERATE_USER_TOKEN' }, [], [DEFAULT_BINDING]).allowed).toBe(false);
  });
});

describe('accessDenied', () => {
  it('writes the user as name/groups joined by commas (Kuma\'s User.String)', () => {
    expect(accessDenied({ name: 'jane', groups: ['team-a', 'mesh-system:authenticated'] })).toBe(
      'Access Denied (user "jane/team-a,mesh-system:authenticated" cannot access the resource)',
    );
  });
  it('quotes a name holding a double quote and a newline as Go\'s %q does', () => {
    expect(accessDenied({ name: 'a"b\nc', groups: [] })).toBe('Access Denied (user "a\\"b\\nc/" cannot access the resource)');
  });
  it('names the resource type, quoted, when a read of a secret is refused', () => {
    expect(deniedDetail({ name: 'bob', groups: ['mesh-system:authenticated'] }, 'Secret')).toBe('user "bob/mesh-system:authenticated" cannot access the resource of type "Secret"');
  });
});

describe('validation of bad roles and bindings', () => {
  it('an AccessRole with no rules', () => {
    expect(validateAccessRole({ type: 'AccessRole', name: 'r' })).toEqual([{ field: 'rules', message: 'must have at least one element' }]);
  });
  it('a rule with an unknown access "READ" and an empty access list', () => {
    const v = validateAccessRole({ type: 'AccessRole', name: 'r', rules: [{ access: ['READ'] }, { access: [] }] });
    expect(v.map((x) => x.field)).toEqual(['rules[0].access[0]', 'rules[1].access']);
  });
  it('a when entry with no qualifier, and a selectors part with an empty match', () => {
    const v = validateAccessRole({ type: 'AccessRole', name: 'r', rules: [{ access: ['CREATE'], when: [{}, { selectors: { match: {} } }] }] });
    expect(v).toEqual([
      { field: 'rules[0].when[0]', message: 'qualifier cannot be empty' },
      { field: 'rules[0].when[1].selectors.match', message: 'must have at least one tag' },
    ]);
  });
  it('a dpToken tag without a value', () => {
    const v = validateAccessRole({ type: 'AccessRole', name: 'r', rules: [{ access: ['GENERATE_DATAPLANE_TOKEN'], when: [{ dpToken: { tags: [{ name: 'kuma.io/service' }] } }] }] });
    expect(v).toEqual([{ field: 'rules[0].when[0].dpToken.tags[0].value', message: 'cannot be empty' }]);
  });
  it('a binding with a subject of type "Team", an unnamed subject and no roles', () => {
    const v = validateAccessRoleBinding({ type: 'AccessRoleBinding', name: 'b', subjects: [{ type: 'Team', name: 'x' }, { type: 'User' }] });
    expect(v.map((x) => x.field)).toEqual(['subjects[0].type', 'subjects[1].name', 'roles']);
  });
  it('a stored malformed when entry (a string) never grants', () => {
    const role: Resource = { type: 'AccessRole', name: 'bad', rules: [{ access: ['CREATE'], when: ['anything'] }] };
    expect(authorize(tokenUser('u'), create({ type: 'Mesh', name: 'm' }), [role], [bindTo('u', 'bad')]).allowed).toBe(false);
  });
  it('a stored dpToken qualifier with an empty tag list grants no data-plane token', () => {
    const role: Resource = { type: 'AccessRole', name: 'bad', rules: [{ access: ['GENERATE_DATAPLANE_TOKEN'], when: [{ dpToken: { tags: [] } }] }] };
    const action: Action = { access: 'GENERATE_DATAPLANE_TOKEN', mesh: 'default', tags: { 'kuma.io/service': 'web' } };
    expect(authorize(tokenUser('u'), action, [role], [bindTo('u', 'bad')]).allowed).toBe(false);
  });
  it('a stored dpToken qualifier whose only tag is a string, not {name, value}, grants no data-plane token', () => {
    const role: Resource = { type: 'AccessRole', name: 'bad', rules: [{ access: ['GENERATE_DATAPLANE_TOKEN'], when: [{ dpToken: { tags: ['kuma.io/service'] } }] }] };
    const action: Action = { access: 'GENERATE_DATAPLANE_TOKEN', mesh: 'default', tags: { 'kuma.io/service': 'web' } };
    expect(authorize(tokenUser('u'), action, [role], [bindTo('u', 'bad')]).allowed).toBe(false);
  });
  it('a stored selectors qualifier with an empty match grants no write', () => {
    const role: Resource = { type: 'AccessRole', name: 'bad', rules: [{ access: ['CREATE'], when: [{ selectors: { match: {} } }] }] };
    const write = create(policy('TrafficTrace', 'default', 't', { selectors: [{ 'kuma.io/service': 'web' }] }));
    expect(authorize(tokenUser('u'), write, [role], [bindTo('u', 'bad')]).allowed).toBe(false);
  });
});
