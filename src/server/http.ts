// What the agent's HTTP listeners share: opening and closing a node:http server, writing responses
// byte for byte as OPA's Go server writes them (encoding/json output, error documents, net/http's
// plain-text errors and redirects), reading query parameters and bodies with Go's rules, and a small
// router that answers unknown paths and methods as Go's ServeMux and OPA's handler wrappers do.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzip } from 'node:zlib';
import { queryUnescape } from '../authz/gocompat/url.js';
import type { Logger } from '../log.js';

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HttpListener {
  readonly port: number;
  /** Stops accepting; requests in flight get `graceMs` to finish, then their connections are cut. */
  close(graceMs: number): Promise<void>;
}

/** Opens `handler` on `host:port` (`[::1]:8181`, `0.0.0.0:0`); `name` says which listener in errors and logs. */
export async function listenHttp(address: string, handler: HttpHandler, log: Logger, name = 'HTTP'): Promise<HttpListener> {
  const { host, port } = splitAddress(address);
  const server = createServer(handler);
  return new Promise((resolveListen, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${address} (${name}): ${err.message}`)));
    server.listen({ host, port }, () => {
      const bound = server.address();
      const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
      server.on('error', (err) => log.error(`${name} listener failed`, { err: err.message }));
      resolveListen({ port: boundPort, close: (graceMs) => closeServer(server, graceMs) });
    });
  });
}

function splitAddress(address: string): { host: string | undefined; port: number } {
  const colon = address.lastIndexOf(':');
  const portText = address.slice(colon + 1);
  const port = Number(portText);
  if (colon < 0 || !/^\d{1,5}$/.test(portText) || port > 65535) throw new Error(`${JSON.stringify(address)} is not host:port`);
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? undefined : host, port };
}

/** How often a closing server drops keep-alive connections whose last request has been answered. */
const IDLE_SWEEP_MS = 50;

function closeServer(server: ReturnType<typeof createServer>, graceMs: number): Promise<void> {
  return new Promise((resolveClose) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    // A keep-alive connection would otherwise hold close() for its idle timeout, including one whose
    // request was still in flight when close() was called.
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolveClose();
    });
    server.closeIdleConnections();
  });
}

// --- JSON as Go's encoding/json writes it -------------------------------------------------------

const STRUCT = Symbol('struct');

/**
 * Marks an object whose keys are written in the order given, as Go writes a struct's fields; every
 * other object is a Go map, written with its keys sorted.
 */
export function struct<T extends object>(fields: T): T {
  Object.defineProperty(fields, STRUCT, { value: true });
  return fields;
}

/** encoding/json output (HTML-safe escaping, sorted map keys), two-space indented when `pretty`. */
export function encodeJson(value: unknown, pretty: boolean): string {
  return encodeValue(value, pretty ? '\n' : '');
}

// Characters Go escapes that JSON.stringify leaves alone, and lone surrogates, which Go cannot hold
// (its strings are UTF-8) and writes as U+FFFD.
const NEEDS_ESCAPE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/;
const HTML_UNSAFE = /[<>&\u2028\u2029]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function encodeString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  return JSON.stringify(s.replace(LONE_SURROGATE, '\ufffd')).replace(HTML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `newline` is '' for compact output, else '\n' plus the current indentation. */
function encodeValue(value: unknown, newline: string): string {
  switch (typeof value) {
    case 'string':
      return encodeString(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return encodeArray(value, newline);
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return encodeValue((value as { toJSON(): unknown }).toJSON(), newline);
      return encodeObject(value as Record<string, unknown>, newline);
    default:
      return 'null';
  }
}

function encodeArray(items: unknown[], newline: string): string {
  if (items.length === 0) return '[]';
  const inner = newline && `${newline}  `;
  return `[${items.map((v) => inner + encodeValue(v === undefined ? null : v, inner)).join(',')}${newline}]`;
}

function encodeObject(obj: Record<string, unknown>, newline: string): string {
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
  if (keys.length === 0) return '{}';
  if (!(STRUCT in obj)) keys.sort(compareUtf8);
  const inner = newline && `${newline}  `;
  const sep = newline ? ': ' : ':';
  return `{${keys.map((k) => inner + encodeString(k) + sep + encodeValue(obj[k], inner)).join(',')}${newline}}`;
}

/** Go sorts map keys by their UTF-8 bytes, which is code point order, not UTF-16 unit order. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// Surrogates stand for code points above U+FFFF, so they rank after U+E000..U+FFFF.
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

// --- Responses ------------------------------------------------------------------------------------

/** One entry of an error document's `errors`. */
export interface ErrorDetail {
  code: string;
  message: string;
  location?: { file: string; row: number; col: number };
}

/** 200 with a JSON document, as OPA's writer.JSONOK. */
export function writeJson(res: ServerResponse, value: unknown, pretty: boolean): void {
  res.setHeader('Content-Type', 'application/json');
  res.end(`${encodeJson(value, pretty)}\n`);
}

/** A JSON document with any status, compact (OPA's health answers). */
export function writeJsonStatus(res: ServerResponse, status: number, value: unknown): void {
  res.statusCode = status;
  writeJson(res, value, false);
}

/** OPA's error document (types.ErrorV1), always indented, as OPA writes it. */
export function writeError(res: ServerResponse, status: number, code: string, message: string, errors?: ErrorDetail[]): void {
  const detail = errors?.map((e) => struct({ code: e.code, message: e.message, location: e.location && struct({ ...e.location }) }));
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(`${encodeJson(struct({ code, message, errors: detail && detail.length > 0 ? detail : undefined }), true)}\n`);
}

/** net/http's Error: a plain-text line. */
export function writeText(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(`${text}\n`);
}

/** A status with no body (OPA's 405 catch-all). */
export function writeStatus(res: ServerResponse, status: number): void {
  res.statusCode = status;
  res.end();
}

const STATUS_TEXT: Record<number, string> = { 301: 'Moved Permanently', 307: 'Temporary Redirect' };
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };

/** net/http's Redirect: the short HTML body goes with GET only. */
export function redirect(req: IncomingMessage, res: ServerResponse, location: string, status: 301 | 307): void {
  res.statusCode = status;
  res.setHeader('Location', location);
  if (req.method === 'GET' || req.method === 'HEAD') res.setHeader('Content-Type', 'text/html; charset=utf-8');
  if (req.method !== 'GET') {
    res.end();
    return;
  }
  res.end(`<a href="${location.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)}">${STATUS_TEXT[status]}</a>.\n\n`);
}

// --- Requests -------------------------------------------------------------------------------------

export type Query = ReadonlyMap<string, readonly string[]>;

/** url.Values as Go's URL.Query() builds it: pairs with a ';' or a bad %-escape are dropped. */
export function parseQuery(raw: string): Query {
  const out = new Map<string, string[]>();
  for (const pair of raw.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
      value = eq < 0 ? '' : queryUnescape(pair.slice(eq + 1));
    } catch {
      continue;
    }
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  }
  return out;
}

/** OPA's getBoolParam: `?name` alone is true, else true only if some value is "true" (any case). */
export function boolParam(query: Query, name: string): boolean {
  const values = query.get(name);
  if (!values) return false;
  if (values.length === 1 && values[0] === '') return true;
  return values.some((v) => v.toLowerCase() === 'true');
}

/** OPA's getStringSliceParam: every value, none when the parameter is given once without one. */
export function listParam(query: Query, name: string): readonly string[] {
  const values = query.get(name);
  if (!values || (values.length === 1 && values[0] === '')) return [];
  return values;
}

export interface BodyLimits {
  /** server.decoding.max_length: bytes read from the wire. */
  maxBytes: number;
  /** server.decoding.gzip.max_length: bytes a gzip body may inflate to. */
  maxGzipBytes: number;
}

/** OPA's defaults: 256 MiB on the wire, 512 MiB inflated. */
export const DEFAULT_BODY_LIMITS: BodyLimits = { maxBytes: 268435456, maxGzipBytes: 536870912 };

/** The body could not be read or inflated; the message is worded as Go's. */
export class BodyError extends Error {
  override readonly name = 'BodyError';
}

/** The request body, inflated when Content-Encoding says gzip (OPA's util.ReadMaybeCompressedBody). */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limits.maxBytes) throw new BodyError('http: request body too large');
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, size);
  if (!(req.headers['content-encoding'] ?? '').includes('gzip')) return body;
  return inflate(body, limits.maxGzipBytes);
}

function inflate(body: Buffer, maxBytes: number): Promise<Buffer> {
  return new Promise((resolveInflate, reject) => {
    gunzip(body, { maxOutputLength: maxBytes + 1 }, (err, out) => {
      if (err) reject(new BodyError(gzipErrorText(err)));
      else if (out.length > maxBytes) reject(new BodyError('gzip payload too large'));
      else resolveInflate(out);
    });
  });
}

/** zlib's wording of the two common failures, as Go's compress/gzip words them. */
function gzipErrorText(err: Error & { code?: string }): string {
  if (err.code === 'ERR_BUFFER_TOO_LARGE') return 'gzip payload too large';
  if (err.code === 'Z_DATA_ERROR' && err.message === 'incorrect header check') return 'gzip: invalid header';
  if (err.code === 'Z_BUF_ERROR') return 'unexpected EOF';
  return err.message;
}

// --- Routing --------------------------------------------------------------------------------------

/** What an endpoint gets: the request, the response, the parsed query and the `{path...}` remainder. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly query: Query;
  /** The path below the route's prefix, still %-escaped ('' for exact routes). */
  readonly rest: string;
}

export interface Endpoint {
  /** The `handler` label of http_request_duration_seconds (OPA's names). */
  label: string;
  /**
   * Served as is, outside OPA's handler wrappers (HEAD refused, trailing slash redirected) and
   * unmeasured, as OPA serves /metrics.
   */
  plain?: boolean;
  handle(x: Exchange): void | Promise<void>;
}

export interface Route {
  /** An exact path (`/v1/data`), or a prefix ending in '/' for a `{path...}` route (`/v1/data/`). */
  path: string;
  methods: Readonly<Record<string, Endpoint>>;
  /** Other methods get OPA's bare 405 (its "catchall" handler) instead of net/http's plain-text one. */
  catchAll?: boolean;
}

/** Records one answered request (http_request_duration_seconds). */
export type Instrument = (x: Exchange, label: string, started: bigint) => void;

export interface RouterOptions {
  routes: readonly Route[];
  instrument: Instrument;
  log: Logger;
  /** Refuse bodies announced larger than this before routing, as OPA's decoding-limits handler. */
  maxBodyBytes?: number;
}

const CATCH_ALL: Endpoint = { label: 'catchall', handle: ({ res }) => writeStatus(res, 405) };

/** A handler that dispatches as Go's ServeMux does with OPA's patterns registered on it. */
export function createRouter(options: RouterOptions): HttpHandler {
  const exact = new Map<string, Route>();
  const prefixes: Route[] = [];
  for (const route of options.routes) {
    if (route.path.endsWith('/') && route.path !== '/') prefixes.push(route);
    else exact.set(route.path, route);
  }
  // The longest prefix is the most specific pattern.
  prefixes.sort((a, b) => b.path.length - a.path.length);
  const allowHeaders = new Map(options.routes.map((r) => [r, allowedMethods(r)]));

  return (req, res) => {
    const started = process.hrtime.bigint();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    if (options.maxBodyBytes !== undefined && Number(req.headers['content-length'] ?? 0) > options.maxBodyBytes) {
      writeError(res, 400, 'invalid_parameter', 'request body too large');
      return;
    }
    const clean = cleanPath(path);
    if (clean !== path) {
      redirect(req, res, rawQuery ? `${clean}?${rawQuery}` : clean, 307);
      return;
    }
    let route = exact.get(path);
    let rest = '';
    if (!route) {
      route = prefixes.find((r) => path.startsWith(r.path));
      if (route) rest = path.slice(route.path.length);
    }
    if (!route) {
      writeText(res, 404, '404 page not found');
      return;
    }
    const method = req.method ?? 'GET';
    const endpoint = route.methods[method] ?? (method === 'HEAD' ? route.methods.GET : undefined) ?? (route.catchAll ? CATCH_ALL : undefined);
    if (!endpoint) {
      res.setHeader('Allow', allowHeaders.get(route)!);
      writeText(res, 405, 'Method Not Allowed');
      return;
    }
    const x: Exchange = { req, res, query: parseQuery(rawQuery), rest };
    if (endpoint.plain) {
      run(endpoint, x, options.log);
      return;
    }
    res.once('close', () => options.instrument(x, endpoint.label, started));
    if (method === 'HEAD') writeStatus(res, 405);
    else if (path !== '/' && path.endsWith('/')) redirect(req, res, path.slice(0, -1), 301);
    else run(endpoint, x, options.log);
  };
}

function allowedMethods(route: Route): string {
  const methods = new Set(Object.keys(route.methods));
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort().join(', ');
}

/** A failing endpoint is a bug: it still gets an answer, in OPA's words for an unexpected error. */
function run(endpoint: Endpoint, x: Exchange, log: Logger): void {
  const fail = (err: unknown): void => {
    log.error('HTTP handler failed', { url: x.req.url, err: err instanceof Error ? err.stack : String(err) });
    if (!x.res.headersSent) writeError(x.res, 500, 'internal_error', err instanceof Error ? err.message : String(err));
    else x.res.destroy();
  };
  try {
    const pending = endpoint.handle(x);
    if (pending) pending.catch(fail);
  } catch (err) {
    fail(err);
  }
}

/** net/http's cleanPath: path.Clean, keeping a trailing slash. */
export function cleanPath(p: string): string {
  if (p === '') return '/';
  if (!p.includes('//') && !p.includes('/.') && p.startsWith('/')) return p;
  const rooted = p.startsWith('/') ? p : `/${p}`;
  const out: string[] = [];
  for (const seg of rooted.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const cleaned = `/${out.join('/')}`;
  return rooted.endsWith('/') && cleaned !== '/' ? `${cleaned}/` : cleaned;
}
