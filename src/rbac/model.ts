// Kong Mesh RBAC as a pure decision: which AccessRoles a user holds through AccessRoleBindings, and
// whether one of their rules grants a write or a token generation. Nothing here does I/O; the store and
// the token routes hand in the roles and bindings they hold.
import { quote } from '../authz/gocompat/text.js';
import type { AccessDecision, FieldViolation, Resource, User, WriteRequest } from '../resources/types.js';

/** What a user asks to do: a resource write, or the generation of a token. */
export type Action =
  | WriteRequest
  | { access: 'GENERATE_USER_TOKEN' | 'GENERATE_ZONE_CP_TOKEN' }
  | { access: 'GENERATE_DATAPLANE_TOKEN'; mesh: string; tags: Record<string, string> };

const ACCESS_VALUES = ['CREATE', 'UPDATE', 'DELETE', 'GENERATE_DATAPLANE_TOKEN', 'GENERATE_USER_TOKEN', 'GENERATE_ZONE_CP_TOKEN'] as const;
const KNOWN_ACCESS: ReadonlySet<string> = new Set(ACCESS_VALUES);
const SUBJECT_TYPES: ReadonlySet<string> = new Set(['User', 'Group']);
const TAG_SECTIONS = ['sources', 'destinations', 'selectors'] as const;
type TagSection = (typeof TAG_SECTIONS)[number];

/** Kong Mesh's precreated role: every action on everything. */
export const DEFAULT_ROLE: Resource = {
  type: 'AccessRole',
  name: 'admin',
  rules: [{ access: [...ACCESS_VALUES] }],
};

/** The standalone control plane's default binding: the admin role for everyone, token or not. */
export const DEFAULT_BINDING: Resource = {
  type: 'AccessRoleBinding',
  name: 'default',
  subjects: [
    { type: 'Group', name: 'mesh-system:authenticated' },
    { type: 'Group', name: 'mesh-system:unauthenticated' },
  ],
  roles: ['admin'],
};

/** Kong Mesh's denial text: the title, then the detail in parentheses, as kumactl prints the error document. */
export function accessDenied(user: User): string {
  return `Access Denied (${deniedDetail(user)})`;
}

/**
 * The denial's detail (the error document's `detail`), naming the resource type when the denial is
 * about one; the user is written as Kuma's User.String(): name, '/', groups joined by ','.
 */
export function deniedDetail(user: User, type?: string): string {
  const what = type === undefined ? 'the resource' : `the resource of type ${quote(type)}`;
  return `user ${quote(`${user.name}/${user.groups.join(',')}`)} cannot access ${what}`;
}

// --- Decision ------------------------------------------------------------------------------------

/**
 * Allowed when one rule of one role bound to the user grants the action. An UPDATE must be granted
 * for the resource as it is and as it will be; a DELETE is judged on what exists, a CREATE on what
 * is written.
 */
export function authorize(user: User, action: Action, roles: readonly Resource[], bindings: readonly Resource[]): AccessDecision {
  const rules = rulesOf(user, roles, bindings);
  const targets = targetsOf(action);
  const allowed = targets.every((target) => rules.some((rule) => grants(rule, action.access, target)));
  return allowed ? { allowed: true } : { allowed: false, message: accessDenied(user), detail: deniedDetail(user) };
}

/** Kuma's admin-only kinds: their data are credentials, so reading them is kept to those who may manage them. */
const SECRET_TYPES: ReadonlySet<string> = new Set(['Secret', 'GlobalSecret']);
const WRITE_ACCESS = ['CREATE', 'UPDATE', 'DELETE'] as const;

/**
 * Reads are open (Kong Mesh's roles govern writes only), except of secrets: Kuma lets only its admins
 * read them, and Kong Mesh documents that write access to secrets is what exposes their content, so a
 * secret is readable by whoever could write that very secret.
 */
export function mayRead(user: User, key: { type: string; name: string; mesh: string | undefined }, roles: readonly Resource[], bindings: readonly Resource[]): boolean {
  if (!SECRET_TYPES.has(key.type)) return true;
  // A secret has no selectors, so a rule qualified by `when` never reaches it: its content is not needed.
  const target: Target = { kind: 'resource', ...key, resource: undefined };
  return rulesOf(user, roles, bindings).some((rule) => WRITE_ACCESS.some((access) => grants(rule, access, target)));
}

/** What a rule is checked against: a resource (type, name, scope and its selector sections) or a token request. */
type Target =
  | { kind: 'resource'; type: string; name: string; mesh: string | undefined; resource: Resource | undefined }
  | { kind: 'dataplane-token'; mesh: string; tags: Record<string, string> }
  | { kind: 'global-token' };

function targetsOf(action: Action): Target[] {
  switch (action.access) {
    case 'GENERATE_DATAPLANE_TOKEN':
      return [{ kind: 'dataplane-token', mesh: action.mesh, tags: action.tags }];
    case 'GENERATE_USER_TOKEN':
    case 'GENERATE_ZONE_CP_TOKEN':
      return [{ kind: 'global-token' }];
    case 'CREATE':
      return [resourceTarget(action, action.next)];
    case 'DELETE':
      return [resourceTarget(action, action.current)];
    case 'UPDATE':
      return [resourceTarget(action, action.current), resourceTarget(action, action.next)];
  }
}

function resourceTarget(write: WriteRequest, resource: Resource | undefined): Target {
  return { kind: 'resource', type: write.type, name: write.name, mesh: write.mesh, resource };
}

function rulesOf(user: User, roles: readonly Resource[], bindings: readonly Resource[]): Rule[] {
  const groups = new Set(user.groups);
  const roleNames = new Set<string>();
  for (const binding of bindings) {
    const parsed = parseBinding(binding);
    const bound = parsed.subjects.some((s) => (s.type === 'User' ? s.name === user.name : s.type === 'Group' && groups.has(s.name)));
    if (bound) for (const role of parsed.roles) roleNames.add(role);
  }
  return roles.filter((role) => roleNames.has(role.name)).flatMap((role) => parseRole(role));
}

/**
 * Token generations are not resources: `types` and `names` do not restrict them. A user or zone token
 * is global, so a rule naming a mesh does not grant it, nor does one with `when` (no qualifier can hold
 * for it); a data-plane token is for a mesh and its tags, which `mesh` and `dpToken` restrict.
 */
function grants(rule: Rule, access: string, target: Target): boolean {
  if (!rule.access.has(access)) return false;
  switch (target.kind) {
    case 'global-token':
      return rule.mesh === undefined && rule.when === undefined;
    case 'dataplane-token':
      return meshAllows(rule.mesh, target.mesh) && whenAllows(rule.when, (c) => conditionHoldsForToken(c, target.tags));
    case 'resource':
      return (
        (rule.types.size === 0 || rule.types.has(target.type)) &&
        (rule.names.size === 0 || rule.names.has(target.name)) &&
        meshAllows(rule.mesh, target.mesh) &&
        whenAllows(rule.when, (c) => conditionHoldsForResource(c, target.resource))
      );
  }
}

/** A rule naming a mesh (even '*') only reaches mesh-scoped things; a rule without one reaches all. */
function meshAllows(ruleMesh: string | undefined, mesh: string | undefined): boolean {
  if (ruleMesh === undefined) return true;
  if (mesh === undefined) return false;
  return ruleMesh === '*' || ruleMesh === mesh;
}

function whenAllows(when: readonly (Condition | typeof NEVER)[] | undefined, holds: (c: Condition) => boolean): boolean {
  return when === undefined || when.some((c) => c !== NEVER && holds(c));
}

function conditionHoldsForResource(condition: Condition, resource: Resource | undefined): boolean {
  if (condition.dpToken !== undefined) return false;
  return TAG_SECTIONS.every((section) => {
    const wanted = condition[section];
    return wanted === undefined || sectionMatches(resource, section, wanted);
  });
}

function conditionHoldsForToken(condition: Condition, tags: Record<string, string>): boolean {
  if (TAG_SECTIONS.some((section) => condition[section] !== undefined)) return false;
  return condition.dpToken === undefined || hasTags(tags, condition.dpToken);
}

/**
 * Every selector of the section must pin each wanted tag to the wanted value, so a policy that also
 * reaches other services is not granted; a '*' in the policy is not the wanted value.
 */
function sectionMatches(resource: Resource | undefined, section: TagSection, wanted: ReadonlyMap<string, string>): boolean {
  const selectors = resource?.[section];
  if (!Array.isArray(selectors) || selectors.length === 0) return false;
  return selectors.every((selector: unknown) => {
    const match = isRecord(selector) ? selector.match : undefined;
    return isRecord(match) && hasTags(match, wanted);
  });
}

function hasTags(tags: Record<string, unknown>, wanted: ReadonlyMap<string, string>): boolean {
  for (const [name, value] of wanted) {
    if (!Object.hasOwn(tags, name) || tags[name] !== value) return false;
  }
  return true;
}

// --- Reading roles and bindings ------------------------------------------------------------------

interface Rule {
  access: ReadonlySet<string>;
  types: ReadonlySet<string>;
  names: ReadonlySet<string>;
  mesh: string | undefined;
  /** Absent: no qualifier. Present: at least one entry must hold (an empty list grants nothing). */
  when: (Condition | typeof NEVER)[] | undefined;
}

/** One `when` entry: each present part must hold. */
type Condition = Partial<Record<TagSection | 'dpToken', ReadonlyMap<string, string>>>;

interface Binding {
  subjects: { type: string; name: string }[];
  roles: string[];
}

// Roles and bindings are read on every write; the store hands in the same objects until they change.
const parsedRoles = new WeakMap<Resource, Rule[]>();
const parsedBindings = new WeakMap<Resource, Binding>();

function parseRole(role: Resource): Rule[] {
  let rules = parsedRoles.get(role);
  if (!rules) {
    rules = (Array.isArray(role.rules) ? role.rules : []).filter(isRecord).map(parseRule);
    parsedRoles.set(role, rules);
  }
  return rules;
}

function parseRule(rule: Record<string, unknown>): Rule {
  return {
    access: new Set(strings(rule.access)),
    types: new Set(strings(rule.types)),
    names: new Set(strings(rule.names)),
    mesh: typeof rule.mesh === 'string' && rule.mesh !== '' ? rule.mesh : undefined,
    when: Array.isArray(rule.when) ? rule.when.map(parseCondition) : undefined,
  };
}

/** A malformed entry (validation refuses those, but stored data may predate it) never holds. */
const NEVER = 'never';

function parseCondition(entry: unknown): Condition | typeof NEVER {
  if (!isRecord(entry)) return NEVER;
  const condition: Condition = {};
  for (const section of TAG_SECTIONS) {
    const part = entry[section];
    if (part === undefined || part === null) continue;
    const match = isRecord(part) ? part.match : undefined;
    const tags = isRecord(match) ? Object.entries(match) : [];
    if (!isTagList(tags)) return NEVER;
    condition[section] = new Map(tags);
  }
  if (entry.dpToken !== undefined && entry.dpToken !== null) {
    const list = isRecord(entry.dpToken) ? entry.dpToken.tags : undefined;
    const tags = Array.isArray(list) ? list.map((t: unknown) => (isRecord(t) ? [t.name, t.value] : [])) : [];
    if (!isTagList(tags)) return NEVER;
    condition.dpToken = new Map(tags);
  }
  return Object.keys(condition).length === 0 ? NEVER : condition;
}

/**
 * An empty tag set would hold for every resource or token, so a qualifier whose tags are missing or
 * not all names and values (what validation refuses) must not be read as one.
 */
function isTagList(tags: unknown[][]): tags is [string, string][] {
  return tags.length > 0 && tags.every(([name, value]) => typeof name === 'string' && name !== '' && typeof value === 'string' && value !== '');
}

function parseBinding(binding: Resource): Binding {
  let parsed = parsedBindings.get(binding);
  if (!parsed) {
    const subjects = (Array.isArray(binding.subjects) ? binding.subjects : [])
      .filter(isRecord)
      .flatMap((s) => (typeof s.type === 'string' && typeof s.name === 'string' ? [{ type: s.type, name: s.name }] : []));
    parsed = { subjects, roles: strings(binding.roles) };
    parsedBindings.set(binding, parsed);
  }
  return parsed;
}

// --- Validation ----------------------------------------------------------------------------------

/** Field violations of an AccessRole, named as Kuma names fields (`rules[0].when[1].sources.match`). */
export function validateAccessRole(r: Resource): FieldViolation[] {
  const out: FieldViolation[] = [];
  const rules = r.rules;
  if (rules === undefined || rules === null || (Array.isArray(rules) && rules.length === 0)) {
    out.push({ field: 'rules', message: 'must have at least one element' });
    return out;
  }
  if (!Array.isArray(rules)) return [{ field: 'rules', message: 'must be a list' }];
  rules.forEach((rule: unknown, i) => validateRule(rule, `rules[${i}]`, out));
  return out;
}

function validateRule(rule: unknown, path: string, out: FieldViolation[]): void {
  if (!isRecord(rule)) {
    out.push({ field: path, message: 'must be an object' });
    return;
  }
  validateAccess(rule.access, `${path}.access`, out);
  validateStringList(rule.types, `${path}.types`, out);
  validateStringList(rule.names, `${path}.names`, out);
  if (rule.mesh !== undefined && (typeof rule.mesh !== 'string' || rule.mesh === '')) {
    out.push({ field: `${path}.mesh`, message: 'must be a non-empty string' });
  }
  if (rule.when === undefined) return;
  if (!Array.isArray(rule.when)) {
    out.push({ field: `${path}.when`, message: 'must be a list' });
    return;
  }
  rule.when.forEach((entry: unknown, i) => validateCondition(entry, `${path}.when[${i}]`, out));
}

function validateAccess(access: unknown, path: string, out: FieldViolation[]): void {
  if (!Array.isArray(access) || access.length === 0) {
    out.push({ field: path, message: 'must have at least one element' });
    return;
  }
  access.forEach((a: unknown, i) => {
    if (typeof a !== 'string' || !KNOWN_ACCESS.has(a)) {
      out.push({ field: `${path}[${i}]`, message: `unknown access ${quote(String(a))}, available values: ${ACCESS_VALUES.join(', ')}` });
    }
  });
}

function validateStringList(value: unknown, path: string, out: FieldViolation[]): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    out.push({ field: path, message: 'must be a list' });
    return;
  }
  value.forEach((v: unknown, i) => {
    if (typeof v !== 'string' || v === '') out.push({ field: `${path}[${i}]`, message: 'cannot be empty' });
  });
}

function validateCondition(entry: unknown, path: string, out: FieldViolation[]): void {
  if (!isRecord(entry) || ![...TAG_SECTIONS, 'dpToken'].some((k) => entry[k] !== undefined && entry[k] !== null)) {
    out.push({ field: path, message: 'qualifier cannot be empty' });
    return;
  }
  for (const section of TAG_SECTIONS) {
    if (entry[section] !== undefined && entry[section] !== null) validateMatch(entry[section], `${path}.${section}.match`, out);
  }
  if (entry.dpToken !== undefined && entry.dpToken !== null) validateDpToken(entry.dpToken, `${path}.dpToken.tags`, out);
}

function validateMatch(part: unknown, path: string, out: FieldViolation[]): void {
  const match = isRecord(part) ? part.match : undefined;
  if (!isRecord(match) || Object.keys(match).length === 0) {
    out.push({ field: path, message: 'must have at least one tag' });
    return;
  }
  for (const [key, value] of Object.entries(match)) {
    if (key === '') out.push({ field: path, message: 'tag name cannot be empty' });
    if (typeof value !== 'string' || value === '') out.push({ field: `${path}[${quote(key)}]`, message: 'tag value cannot be empty' });
  }
}

function validateDpToken(part: unknown, path: string, out: FieldViolation[]): void {
  const tags = isRecord(part) ? part.tags : undefined;
  if (!Array.isArray(tags) || tags.length === 0) {
    out.push({ field: path, message: 'must have at least one element' });
    return;
  }
  tags.forEach((tag: unknown, i) => {
    const t = isRecord(tag) ? tag : {};
    if (typeof t.name !== 'string' || t.name === '') out.push({ field: `${path}[${i}].name`, message: 'cannot be empty' });
    if (typeof t.value !== 'string' || t.value === '') out.push({ field: `${path}[${i}].value`, message: 'cannot be empty' });
  });
}

/** Field violations of an AccessRoleBinding. */
export function validateAccessRoleBinding(r: Resource): FieldViolation[] {
  const out: FieldViolation[] = [];
  const subjects = r.subjects;
  if (!Array.isArray(subjects) || subjects.length === 0) {
    out.push({ field: 'subjects', message: 'must have at least one element' });
  } else {
    subjects.forEach((subject: unknown, i) => validateSubject(subject, `subjects[${i}]`, out));
  }
  const roles = r.roles;
  if (!Array.isArray(roles) || roles.length === 0) {
    out.push({ field: 'roles', message: 'must have at least one element' });
  } else {
    validateStringList(roles, 'roles', out);
  }
  return out;
}

function validateSubject(subject: unknown, path: string, out: FieldViolation[]): void {
  const s = isRecord(subject) ? subject : {};
  if (typeof s.type !== 'string' || !SUBJECT_TYPES.has(s.type)) {
    out.push({ field: `${path}.type`, message: 'must be one of: User, Group' });
  }
  if (typeof s.name !== 'string' || s.name === '') out.push({ field: `${path}.name`, message: 'cannot be empty' });
}

// --- Helpers -------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
