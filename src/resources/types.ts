// The shapes every part of the resource layer agrees on: Kuma's Universal form (type, mesh, name and the
// spec's fields beside them), the identity of whoever writes, and the hook the store calls before a write.

/** A resource in Kuma's Universal form: `type`, `mesh` (mesh-scoped types only), `name`, then its spec's fields. */
export interface Resource {
  type: string;
  mesh?: string;
  name: string;
  [field: string]: unknown;
}

/** A stored resource: what was written, plus Kuma's timestamps (RFC 3339) the API shows beside it. */
export interface StoredResource {
  resource: Resource;
  creationTime: string;
  modificationTime: string;
  /** Where it came from: `api`, `default` (created at start), or `file:<path>` (the resources directory). */
  origin: string;
}

/** Kuma's write actions (AccessRole `access`). Reads are open to everyone and never checked. */
export type Access = 'CREATE' | 'UPDATE' | 'DELETE' | 'GENERATE_DATAPLANE_TOKEN' | 'GENERATE_USER_TOKEN' | 'GENERATE_ZONE_CP_TOKEN';

/** Who is calling: `admin`/`mesh-system:admin` for localhost, `mesh-system:anonymous` without a token. */
export interface User {
  name: string;
  groups: string[];
}

/** The identity of a request, or why it has none (a bad token is refused with 401, never made anonymous). */
export type Authentication = { ok: true; user: User } | { ok: false; status: 401; message: string };

/** An RBAC decision about one write: a denial carries its full text and, apart, the error document's detail. */
export type AccessDecision = { allowed: true } | { allowed: false; message: string; detail: string };

/**
 * A write the store is asked to make, as RBAC judges it: the resource after the write (`next`, absent
 * for DELETE) and before (`current`, absent for CREATE). An UPDATE must be allowed for both, so that a
 * write can neither take over a resource the user may not touch nor turn one into such a resource.
 */
export interface WriteRequest {
  access: Extract<Access, 'CREATE' | 'UPDATE' | 'DELETE'>;
  type: string;
  mesh: string | undefined;
  name: string;
  next?: Resource;
  current?: Resource;
}

/** One invalid field, named as Kuma names it (`selectors[0].match`, `conf.policies[1].secret`). */
export interface FieldViolation {
  field: string;
  message: string;
}

/** A resource refused on the way in; nothing was changed. */
export class ValidationError extends Error {
  constructor(
    readonly violations: FieldViolation[],
    readonly title = 'Resource is not valid',
  ) {
    super(violations.map((v) => `${v.field}: ${v.message}`).join('; '));
    this.name = 'ValidationError';
  }
}

/** Where a kind lives: in a mesh (`/meshes/{mesh}/<path>/{name}`) or globally (`/<path>/{name}`). */
export type Scope = 'mesh' | 'global';

export interface ResourceKind {
  type: string;
  scope: Scope;
  /** Kuma's REST path segment (and `kumactl get` name). */
  path: string;
}

/** The kinds this agent stores, as Kuma's API names them. Anything else is refused with this list. */
export const RESOURCE_KINDS: readonly ResourceKind[] = [
  { type: 'OPAPolicy', scope: 'mesh', path: 'opapolicies' },
  { type: 'Secret', scope: 'mesh', path: 'secrets' },
  { type: 'GlobalSecret', scope: 'global', path: 'global-secrets' },
  { type: 'AccessRole', scope: 'global', path: 'access-roles' },
  { type: 'AccessRoleBinding', scope: 'global', path: 'access-role-bindings' },
];
