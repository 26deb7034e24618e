// HTTP client of the agent's Kuma-style resource API (what kumactl's remote store and token client call):
// one request per operation, the token as `Authorization: Bearer`, Kuma's JSON errors turned into ApiError.
import { Agent, request } from 'undici';
import type { ResourceKind } from '../resources/types.js';

export interface ApiTarget {
  /** Base URL, `http://localhost:8181` (a path prefix is kept). */
  address: string;
  token?: string;
  skipVerify?: boolean;
  /** PEM text of the CA that signed the server's certificate. */
  caCert?: string;
  headers?: Record<string, string>;
  /** 0: no timeout (kumactl's --api-timeout 0). */
  timeoutMs: number;
}

/** A resource as the API shows it: Universal form plus Kuma's timestamps. */
export interface ApiResource {
  type: string;
  name: string;
  mesh?: string;
  creationTime?: string;
  modificationTime?: string;
  [field: string]: unknown;
}

export interface ApiResourceList {
  total: number;
  items: ApiResource[];
  /** URL of the next page, or null. */
  next: string | null;
}

export interface InvalidParameter {
  field: string;
  reason: string;
}

/** A refusal in Kuma's error format; the message is kumactl's rendering of it. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly invalidParameters: readonly InvalidParameter[],
  ) {
    super([`${title} (${detail})`, ...invalidParameters.map((p) => `* ${p.field}: ${p.reason}`)].join('\n'));
  }
}

/** No HTTP answer at all: refused, unresolvable, TLS failure, timeout. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

interface Reply {
  status: number;
  body: string;
}

type Method = 'GET' | 'PUT' | 'DELETE' | 'POST';

export class ApiClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  // A dispatcher of our own, closed when done, so idle keep-alive sockets never hold the process open.
  private readonly dispatcher: Agent;

  constructor(private readonly target: ApiTarget) {
    this.base = target.address.replace(/\/+$/, '');
    this.headers = { accept: 'application/json', ...target.headers, ...(target.token ? { authorization: `Bearer ${target.token}` } : {}) };
    const tls = { ...(target.skipVerify ? { rejectUnauthorized: false } : {}), ...(target.caCert ? { ca: target.caCert } : {}) };
    this.dispatcher = new Agent({ connect: tls });
  }

  /** Any HTTP answer from the agent's health endpoint proves the address is reachable (kumactl's --skip-check guard). */
  async ping(): Promise<void> {
    await this.send('GET', '/health');
  }

  /** The resource, or undefined when the API answers 404. */
  async get(kind: ResourceKind, mesh: string, name: string): Promise<ApiResource | undefined> {
    const reply = await this.send('GET', resourcePath(kind, mesh, name));
    if (reply.status === 404) return undefined;
    return resourceOf(this.expectOk(reply));
  }

  async list(kind: ResourceKind, mesh: string, page: { size?: number; offset?: string } = {}): Promise<ApiResourceList> {
    const query = new URLSearchParams();
    if (page.size) query.set('size', String(page.size));
    if (page.offset) query.set('offset', page.offset);
    const qs = query.size > 0 ? `?${query.toString()}` : '';
    return listOf(this.expectOk(await this.send('GET', resourcePath(kind, mesh) + qs)));
  }

  /** Creates or replaces; Kuma answers 201 for a new resource and 200 for an update, with any warnings. */
  async put(kind: ResourceKind, resource: ApiResource): Promise<{ created: boolean; warnings: string[] }> {
    const reply = await this.send('PUT', resourcePath(kind, resource.mesh ?? '', resource.name), JSON.stringify(resource));
    const body = this.expectOk(reply);
    return { created: reply.status === 201, warnings: warningsOf(body) };
  }

  /** False when there was nothing to delete (404). */
  async delete(kind: ResourceKind, mesh: string, name: string): Promise<boolean> {
    const reply = await this.send('DELETE', resourcePath(kind, mesh, name));
    if (reply.status === 404) return false;
    this.expectOk(reply);
    return true;
  }

  /** POST /tokens/user; validFor is a Go duration ("24h0m0s"). Answers the token as text. */
  async generateUserToken(request: { name: string; groups: string[]; validFor: string }): Promise<string> {
    const reply = await this.send('POST', '/tokens/user', JSON.stringify(request));
    if (reply.status !== 200) throw errorOf(reply);
    return reply.body;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async send(method: Method, path: string, body?: string): Promise<Reply> {
    const url = this.base + path;
    try {
      const res = await request(url, {
        method,
        headers: body === undefined ? this.headers : { ...this.headers, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body }),
        dispatcher: this.dispatcher,
        ...(this.target.timeoutMs > 0 ? { signal: AbortSignal.timeout(this.target.timeoutMs) } : {}),
      });
      return { status: res.statusCode, body: await res.body.text() };
    } catch (err) {
      throw new ConnectionError(`${method} ${JSON.stringify(url)}: ${describe(err)}`);
    }
  }

  private expectOk(reply: Reply): unknown {
    if (reply.status < 200 || reply.status > 299) throw errorOf(reply);
    if (reply.body.trim() === '') return {};
    try {
      return JSON.parse(reply.body) as unknown;
    } catch {
      throw new ApiError(reply.status, 'Invalid response', `the server answered something other than JSON: ${reply.body.slice(0, 200)}`, []);
    }
  }
}

/** `/meshes/{mesh}/{path}[/{name}]` for mesh-scoped kinds, `/{path}[/{name}]` for global ones. */
export function resourcePath(kind: ResourceKind, mesh: string, name?: string): string {
  const collection = kind.scope === 'mesh' ? `/meshes/${encodeURIComponent(mesh)}/${kind.path}` : `/${kind.path}`;
  return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`;
}

/** Kuma's JSON error when the body is one (it has a title), else kumactl's `(status): body`. */
function errorOf(reply: Reply): Error {
  const parsed = tryJson(reply.body);
  if (isRecord(parsed) && typeof parsed.title === 'string' && parsed.title !== '') {
    // `details`/`causes` are Kuma 1.x's names, still read by kumactl.
    const detail = typeof parsed.detail === 'string' && parsed.detail !== '' ? parsed.detail : String(parsed.details ?? '');
    return new ApiError(reply.status, parsed.title, detail, invalidParametersOf(parsed));
  }
  return new Error(`(${reply.status}): ${reply.body.trim()}`);
}

function invalidParametersOf(error: Record<string, unknown>): InvalidParameter[] {
  const modern = Array.isArray(error.invalid_parameters);
  const entries: unknown[] = modern ? (error.invalid_parameters as unknown[]) : Array.isArray(error.causes) ? error.causes : [];
  return entries.filter(isRecord).map((p) => ({ field: String(p.field ?? ''), reason: String((modern ? p.reason : p.message) ?? '') }));
}

function resourceOf(body: unknown): ApiResource {
  if (!isRecord(body) || typeof body.type !== 'string' || typeof body.name !== 'string') throw new ApiError(200, 'Invalid response', 'the server answered something other than a resource', []);
  return body as ApiResource;
}

function listOf(body: unknown): ApiResourceList {
  if (!isRecord(body) || !Array.isArray(body.items)) throw new ApiError(200, 'Invalid response', 'the server answered something other than a resource list', []);
  const items = body.items.map(resourceOf);
  return { total: typeof body.total === 'number' ? body.total : items.length, items, next: typeof body.next === 'string' ? body.next : null };
}

function warningsOf(body: unknown): string[] {
  return isRecord(body) && Array.isArray(body.warnings) ? body.warnings.map(String) : [];
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** undici wraps socket errors; the innermost cause names what failed (ECONNREFUSED 127.0.0.1:8181). */
function describe(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  if (e instanceof Error && e.name === 'TimeoutError') return 'timed out (see --api-timeout)';
  return e instanceof Error ? e.message : String(e);
}
