// Kuma's REST API for the stored kinds (pkg/api-server resource endpoints): list, get, create or
// update (PUT), delete, under /meshes/{mesh}/<path> for mesh-scoped kinds and /<path> for global ones.
// Answers and errors are shaped as Kuma's: resources in Universal form with their timestamps, lists
// as {total, items, next}, writes as {}, and errors as Kuma's `/std-errors` document.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { unmarshalJsonBytes } from '../authz/gocompat/json.js';
import { quote } from '../authz/gocompat/text.js';
import { pathUnescape } from '../authz/gocompat/url.js';
import type { Logger } from '../log.js';
import { deniedDetail } from '../rbac/model.js';
import { BodyError, readBody, type Endpoint, type Exchange, type Query, type Route } from '../server/http.js';
import { ConflictError, RefusedError, type KindDef, type ResourceStore } from './store.js';
import { ValidationError, type AccessDecision, type Authentication, type FieldViolation, type Resource, type StoredResource, type User, type WriteRequest } from './types.js';

export interface ResourceApiDeps {
  store: ResourceStore;
  authenticate(req: IncomingMessage): Promise<Authentication>;
  authorize(user: User, write: WriteRequest): AccessDecision;
  log: Logger;
  /** Whether `user` may read a resource; every resource is readable when absent. */
  readable?(user: User, type: string, name: string, mesh: string | undefined): boolean;
}

/** Bodies larger than this are refused with 413: resources are small documents. */
const MAX_RESOURCE_BODY_BYTES = 1024 * 1024;
const BODY_LIMITS = { maxBytes: MAX_RESOURCE_BODY_BYTES, maxGzipBytes: MAX_RESOURCE_BODY_BYTES };

// Kuma's paging (pkg/api-server/pagination.go).
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

/** The endpoints' label in http_request_duration_seconds. */
const LABEL = 'resources';

export function resourceRoutes(deps: ResourceApiDeps): Route[] {
  const api = new ResourceApi(deps);
  const meshEndpoint = (method: Method): Endpoint => ({ label: LABEL, handle: (x) => api.handleMesh(x, method) });
  const routes: Route[] = [{ path: '/meshes/', methods: { GET: meshEndpoint('GET'), PUT: meshEndpoint('PUT'), DELETE: meshEndpoint('DELETE') } }];
  for (const kind of deps.store.kinds()) {
    if (kind.scope !== 'global') continue;
    const itemEndpoint = (method: Method): Endpoint => ({ label: LABEL, handle: (x) => api.handleGlobal(x, kind, method) });
    routes.push(
      { path: `/${kind.path}`, methods: { GET: { label: LABEL, handle: (x) => api.list(x, kind, undefined) } } },
      { path: `/${kind.path}/`, methods: { GET: itemEndpoint('GET'), PUT: itemEndpoint('PUT'), DELETE: itemEndpoint('DELETE') } },
    );
  }
  return routes;
}

type Method = 'GET' | 'PUT' | 'DELETE';

/** An answer other than success, written as Kuma's error document. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly invalid: readonly FieldViolation[] = [],
  ) {
    super(detail);
  }
}

const NOT_FOUND = 'Not found';

class ResourceApi {
  private readonly unknownPathDetail: string;

  constructor(private readonly deps: ResourceApiDeps) {
    const where = (k: KindDef): string => (k.scope === 'mesh' ? `/meshes/{mesh}/${k.path}` : `/${k.path}`);
    this.unknownPathDetail = `kmesh-opa stores ${deps.store
      .kinds()
      .map((k) => `${k.type} (${where(k)})`)
      .join(', ')}`;
  }

  /** `/meshes/{mesh}/{path}` and `/meshes/{mesh}/{path}/{name}`. */
  handleMesh(x: Exchange, method: Method): Promise<void> {
    return this.answer(x, async () => {
      const segments = x.rest.split('/').map(unescapeSegment);
      const [mesh, path, name] = segments;
      const kind = path === undefined ? undefined : this.deps.store.kindByPath(path);
      if (mesh === undefined || path === undefined || segments.length > 3 || kind?.scope !== 'mesh') {
        throw new ApiError(404, NOT_FOUND, path === undefined ? `no resources under ${x.req.url}; ${this.unknownPathDetail}` : `unknown resource path ${quote(path)}; ${this.unknownPathDetail}`);
      }
      if (name === undefined) {
        if (method !== 'GET') throw methodNotAllowed(method);
        await this.list(x, kind, mesh);
        return;
      }
      await this.item(x, kind, mesh, name, method);
    });
  }

  /** `/{path}/{name}` of a global kind. */
  handleGlobal(x: Exchange, kind: KindDef, method: Method): Promise<void> {
    return this.answer(x, async () => {
      const name = unescapeSegment(x.rest);
      if (x.rest.includes('/')) throw new ApiError(404, NOT_FOUND, `unknown resource path ${quote(x.req.url ?? '')}; ${this.unknownPathDetail}`);
      await this.item(x, kind, undefined, name, method);
    });
  }

  /** GET of a kind's resources, sorted by name, paged as Kuma pages (`size`, `offset`, and `name` as a substring filter). */
  list(x: Exchange, kind: KindDef, mesh: string | undefined): Promise<void> {
    return this.answer(x, async () => {
      const user = await this.identify(x.req);
      const page = pageOf(x.query);
      const nameContains = first(x.query, 'name') ?? '';
      const items = this.deps.store
        .list(kind.type, mesh)
        .filter((s) => s.resource.name.includes(nameContains) && this.isReadable(user, s.resource));
      const end = page.offset + page.size;
      const next = end < items.length ? nextLink(x.req, x.query, end) : null;
      writeKuma(x.res, 200, { total: items.length, items: items.slice(page.offset, end).map(present), next });
    });
  }

  private async item(x: Exchange, kind: KindDef, mesh: string | undefined, name: string, method: Method): Promise<void> {
    if (method === 'GET') await this.get(x, kind, mesh, name);
    else if (method === 'PUT') await this.put(x, kind, mesh, name);
    else await this.delete(x, kind, mesh, name);
  }

  private async get(x: Exchange, kind: KindDef, mesh: string | undefined, name: string): Promise<void> {
    const user = await this.identify(x.req);
    const stored = this.deps.store.get(kind.type, mesh, name);
    if (!stored) throw new ApiError(404, 'Could not retrieve a resource', NOT_FOUND);
    if (!this.isReadable(user, stored.resource)) throw accessDenied(deniedDetail(user, kind.type));
    writeKuma(x.res, 200, present(stored));
  }

  private async put(x: Exchange, kind: KindDef, mesh: string | undefined, name: string): Promise<void> {
    const user = await this.identify(x.req);
    const body = await readResourceBody(x.req, kind);
    const mismatches = pathMismatches(body, kind, mesh, name);
    if (mismatches.length > 0) throw new ApiError(400, 'Could not process a resource', 'Resource is not valid', mismatches);
    const { next, invalid } = this.validated(body);
    const current = this.deps.store.get(kind.type, mesh, name)?.resource;
    const mayWrite = (replaced: Resource | undefined): void =>
      this.mustAllow(user, { access: replaced ? 'UPDATE' : 'CREATE', type: kind.type, mesh, name, next, current: replaced });
    // Kuma checks access before it validates the spec: a caller who may not write learns nothing from the validation.
    mayWrite(current);
    if (invalid) throw new ApiError(400, 'Could not process a resource', invalid.title, invalid.violations);
    const title = current ? 'Failed to update a resource' : 'Failed to create a resource';
    const { created } = await this.write(title, () => this.deps.store.put(next, 'api', mayWrite));
    writeKuma(x.res, created ? 201 : 200, {});
  }

  /** Throws Kuma's 403 unless `user` may make the write. */
  private mustAllow(user: User, write: WriteRequest): void {
    const decision = this.deps.authorize(user, write);
    if (!decision.allowed) throw accessDenied(decision.detail);
  }

  /**
   * The resource as the store keeps it; when invalid, the body itself (for the access check that comes
   * first) and why. A body that is no object is refused at once, as Kuma's decoding refuses it.
   */
  private validated(body: unknown): { next: Resource; invalid?: ValidationError } {
    try {
      return { next: this.deps.store.validate(body) };
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'Could not process a resource', err.title, err.violations);
      return { next: body as Resource, invalid: err };
    }
  }

  private async delete(x: Exchange, kind: KindDef, mesh: string | undefined, name: string): Promise<void> {
    const user = await this.identify(x.req);
    const title = 'Could not delete a resource';
    const current = this.deps.store.get(kind.type, mesh, name);
    if (!current) throw new ApiError(404, title, NOT_FOUND);
    const mayDelete = (replaced: Resource | undefined): void => this.mustAllow(user, { access: 'DELETE', type: kind.type, mesh, name, current: replaced });
    mayDelete(current.resource);
    const deleted = await this.write(title, () => this.deps.store.delete(kind.type, mesh, name, 'api', mayDelete));
    if (!deleted) throw new ApiError(404, title, NOT_FOUND);
    writeKuma(x.res, 200, {});
  }

  /** Runs a store write, turning its refusals into Kuma's answers; anything else is a failure of the agent. */
  private async write<T>(title: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof ValidationError) throw new ApiError(400, title, err.title, err.violations);
      if (err instanceof ConflictError) throw new ApiError(409, 'Conflict', err.message);
      if (err instanceof RefusedError) throw new ApiError(400, title, err.message);
      throw err;
    }
  }

  /** Every request is authenticated, as Kuma's filter does: no token is anonymous, a bad token is 401. */
  private async identify(req: IncomingMessage): Promise<User> {
    const auth = await this.deps.authenticate(req);
    if (!auth.ok) throw new ApiError(auth.status, 'Invalid authentication data', auth.message);
    return auth.user;
  }

  private isReadable(user: User, resource: Resource): boolean {
    return this.deps.readable?.(user, resource.type, resource.name, resource.mesh) ?? true;
  }

  private async answer(x: Exchange, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (err) {
      if (err instanceof ApiError) {
        writeKumaError(x.res, err.status, err.title, err.detail, err.invalid);
        return;
      }
      this.deps.log.error('resource API request failed', { url: x.req.url, method: x.req.method, err: err instanceof Error ? err.stack : String(err) });
      writeKumaError(x.res, 500, 'Internal Server Error', 'Internal Server Error');
    }
  }
}

function unescapeSegment(segment: string): string {
  try {
    return pathUnescape(segment);
  } catch {
    // A bad %-escape names no stored resource.
    return segment;
  }
}

function methodNotAllowed(method: string): ApiError {
  return new ApiError(405, 'Method not allowed', `${method} is not allowed on a list of resources`);
}

function accessDenied(detail: string): ApiError {
  return new ApiError(403, 'Access Denied', detail);
}

// --- Bodies ---------------------------------------------------------------------------------------

async function readResourceBody(req: IncomingMessage, kind: KindDef): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readBody(req, BODY_LIMITS);
  } catch (err) {
    if (!(err instanceof BodyError)) throw err;
    const tooLarge = err.message.includes('too large');
    throw new ApiError(tooLarge ? 413 : 400, 'Could not process a resource', tooLarge ? `request body too large (limit ${MAX_RESOURCE_BODY_BYTES} bytes)` : err.message);
  }
  try {
    return isYaml(req) ? parseYaml(bytes.toString('utf8'), { maxAliasCount: 100 }) : unmarshalJsonBytes(bytes);
  } catch (err) {
    // Kuma's rest.InvalidResourceError: `invalid <Type> object: "<json.Unmarshal's message>"`.
    throw new ApiError(400, 'Bad Request', `invalid ${kind.type} object: ${quote(unmarshalMessage((err as Error).message))}`);
  }
}

/**
 * The decoder here reads as Go's json.Decoder; Kuma calls json.Unmarshal, which words a body that
 * ends too early differently. (Content after the value is still worded as the Decoder words it.)
 */
function unmarshalMessage(decoderMessage: string): string {
  return decoderMessage === 'EOF' || decoderMessage === 'unexpected EOF' ? 'unexpected end of JSON input' : decoderMessage;
}

function isYaml(req: IncomingMessage): boolean {
  return /yaml/i.test(req.headers['content-type'] ?? '');
}

/** Kuma's validateResourceRequest: the body must name the resource the path names. */
function pathMismatches(body: unknown, kind: KindDef, mesh: string | undefined, name: string): FieldViolation[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [];
  const fields = body as Record<string, unknown>;
  const out: FieldViolation[] = [];
  if (fields.name !== name) out.push({ field: 'name', message: 'name from the URL has to be the same as in body' });
  if (fields.type !== kind.type) out.push({ field: 'type', message: 'type from the URL has to be the same as in body' });
  if (kind.scope === 'mesh' && fields.mesh !== mesh) out.push({ field: 'mesh', message: 'mesh from the URL has to be the same as in body' });
  return out;
}

// --- Paging ---------------------------------------------------------------------------------------

function first(query: Query, name: string): string | undefined {
  return query.get(name)?.[0];
}

function pageOf(query: Query): { size: number; offset: number } {
  const sizeText = first(query, 'size') ?? '';
  let size = DEFAULT_PAGE_SIZE;
  if (sizeText !== '') {
    if (!/^[+-]?\d+$/.test(sizeText)) throw invalidPageSize('invalid format');
    size = Number(sizeText);
    if (size <= 0) throw invalidPageSize('must be greater than 0');
    if (size > MAX_PAGE_SIZE) throw invalidPageSize(`invalid page size of ${size}. Maximum page size is ${MAX_PAGE_SIZE}`);
  }
  const offsetText = first(query, 'offset') ?? '';
  if (offsetText === '') return { size, offset: 0 };
  if (!/^\d+$/.test(offsetText)) throw new ApiError(400, 'Could not retrieve resources', 'Invalid offset', [{ field: 'offset', message: 'must be the offset of a previous answer\'s "next" link' }]);
  return { size, offset: Number(offsetText) };
}

function invalidPageSize(reason: string): ApiError {
  return new ApiError(400, 'Could not retrieve resources', 'Invalid page size', [{ field: 'size', message: reason }]);
}

/** Kuma's nextLink: the request's URL with `offset` set, parameters sorted by name as Go's url.Values.Encode. */
function nextLink(req: IncomingMessage, query: Query, offset: number): string {
  const params = new Map(query);
  params.set('offset', [String(offset)]);
  const encoded = [...params.keys()]
    .sort()
    .flatMap((k) => params.get(k)!.map((v) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
    .join('&');
  const path = (req.url ?? '/').split('?')[0];
  return `http://${req.headers.host ?? ''}${path}?${encoded}`;
}

// --- Answers --------------------------------------------------------------------------------------

/** The resource as Kuma shows it: type, mesh, name, the timestamps, labels, then the spec's fields. */
function present(stored: StoredResource): Record<string, unknown> {
  const { type, mesh, name, labels, ...spec } = stored.resource;
  return { type, mesh, name, creationTime: stored.creationTime, modificationTime: stored.modificationTime, labels, ...spec };
}

/** Kuma's error document: the RFC 7807 fields and, beside them, the older `details`/`causes` kumactl reads. */
export function writeKumaError(res: ServerResponse, status: number, title: string, detail: string, violations: readonly FieldViolation[] = []): void {
  const invalid = violations.length > 0 ? violations : undefined;
  writeKuma(res, status, {
    type: '/std-errors',
    status,
    title,
    detail,
    invalid_parameters: invalid?.map((v) => ({ field: v.field, reason: v.message })),
    details: detail,
    causes: invalid?.map((v) => ({ field: v.field, message: v.message })),
  });
}

// Characters Go's encoding/json escapes that JSON.stringify leaves alone. Outside strings JSON text
// has none of them, so replacing them anywhere in the output only touches string contents.
const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

/**
 * A JSON answer as go-restful writes one (json.MarshalIndent with a one-space indent), keeping the
 * fields in the order given, as Go keeps a struct's and protojson a message's.
 */
export function writeKuma(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body, null, 1).replace(HTML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
