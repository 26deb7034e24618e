// The REST API on KMESH_OPA_ADDR, answering as OPA 1.19.1's server: the Data API (v1 and v0, and the
// unversioned POST /), the policies and config read endpoints, health and metrics. Anything OPA
// serves that this agent cannot (writes, ad-hoc queries, compile) is answered 501 with an
// OPA-shaped error, so that a client learns it is unsupported rather than absent or forbidden. Kuma's
// resource paths (OPAPolicy, Secret, RBAC) are served beside them, from src/resources and src/rbac.
//
// Only documents the compiled policy can answer are evaluable: its entrypoints (the decision and one
// per Rego package), what lies inside their values, and the data document. Everything else is answered
// as OPA answers a document that does not exist.
import { goTypeName } from '../authz/gocompat/text.js';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { parse as parseYaml, YAMLError } from 'yaml';
import { unmarshalJson, unmarshalJsonBytes } from '../authz/gocompat/json.js';
import { decodeUtf8, GoError, quote } from '../authz/gocompat/text.js';
import { pathUnescape } from '../authz/gocompat/url.js';
import { EvaluationError } from '../engine/wasm.js';
import {
  createInstrument,
  healthEndpoint,
  healthPathEndpoint,
  InvalidPathError,
  metricsEndpoint,
  parseDataPath,
  type ApiDecision,
  type ApiDeps,
} from './api.js';
import {
  boolParam,
  BodyError,
  createRouter,
  DEFAULT_BODY_LIMITS,
  readBody,
  struct,
  writeError,
  writeJson,
  type BodyLimits,
  type Endpoint,
  type ErrorDetail,
  type Exchange,
  type HttpHandler,
  type Route,
} from './http.js';

/** `extra` routes (Kuma's resource and token paths) are served beside OPA's. */
export function createRestHandler(deps: ApiDeps, extra: readonly Route[] = []): HttpHandler {
  const limits = deps.bodyLimits ?? DEFAULT_BODY_LIMITS;
  const data = new DataApi(deps, limits);
  const v0: Endpoint = { label: 'v0/data', handle: (x) => data.v0(x, x.rest) };
  const defaultDecision = deps.defaultDecision ?? '/system/main';
  const index: Endpoint = { label: 'index', handle: (x) => data.v0(x, defaultDecision) };
  const v1Get: Endpoint = { label: 'v1/data', handle: (x) => data.v1(x, 'GET') };
  const v1Post: Endpoint = { label: 'v1/data', handle: (x) => data.v1(x, 'POST') };
  const dataWrite = notImplemented('v1/data', 'writing data through the REST API is not supported by kmesh-opa');
  const policyWrite = notImplemented('v1/policies', 'writing policies through the REST API is not supported by kmesh-opa');
  const query = notImplemented('v1/query', 'ad-hoc queries are not supported by kmesh-opa: it evaluates policies compiled to WebAssembly');
  const compile = notImplemented('v1/compile', 'partial evaluation is not supported by kmesh-opa: it evaluates policies compiled to WebAssembly');
  const routes: Route[] = [
    { path: '/health', methods: { GET: healthEndpoint(deps) } },
    { path: '/health/', methods: { GET: healthPathEndpoint(deps) } },
    { path: '/metrics', methods: { GET: metricsEndpoint(deps.registry) } },
    { path: '/v0/data', methods: { POST: v0 }, catchAll: true },
    { path: '/v0/data/', methods: { POST: v0 }, catchAll: true },
    { path: '/v1/data', methods: { GET: v1Get, POST: v1Post, PUT: dataWrite, PATCH: dataWrite }, catchAll: true },
    { path: '/v1/data/', methods: { GET: v1Get, POST: v1Post, PUT: dataWrite, PATCH: dataWrite, DELETE: dataWrite }, catchAll: true },
    { path: '/v1/policies', methods: { GET: { label: 'v1/policies', handle: (x) => listPolicies(deps, x) } }, catchAll: true },
    { path: '/v1/policies/', methods: { GET: { label: 'v1/policies', handle: (x) => getPolicy(deps, x) }, PUT: policyWrite, DELETE: policyWrite }, catchAll: true },
    { path: '/v1/query', methods: { GET: query, POST: query }, catchAll: true },
    { path: '/v1/query/', methods: {}, catchAll: true },
    { path: '/v1/compile', methods: { POST: compile } },
    { path: '/v1/compile/', methods: { GET: compile, POST: compile } },
    { path: '/v1/config', methods: { GET: { label: 'v1/config', handle: (x) => getConfig(deps, x) } } },
    { path: '/v1/status', methods: { GET: { label: 'v1/status', handle: ({ res, query }) => writeJson(res, { result: deps.status?.() ?? {} }, boolParam(query, 'pretty')) } } },
    { path: '/', methods: { GET: notImplemented('index', 'kmesh-opa serves no index page'), POST: index } },
    ...extra,
  ];
  const router = createRouter({ routes, instrument: createInstrument(deps.registry, deps.httpDurationBuckets), log: deps.log, maxBodyBytes: limits.maxBytes });
  return (req, res) => {
    if (mayCompress(req)) res.setHeader('Vary', 'Accept-Encoding');
    router(req, res);
  };
}

const DATA_PATH = /^\/v[01]\/data/;

/**
 * OPA's gzip handler marks GET/POST answers under /v0/data and /v1/data (and POST /v1/compile) as
 * varying by Accept-Encoding, whatever the route answers; this agent does not compress, but keeps the
 * header so caches treat its answers as they treat OPA's.
 */
function mayCompress(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  if (DATA_PATH.test(url)) return req.method === 'GET' || req.method === 'POST';
  return req.method === 'POST' && url.startsWith('/v1/compile');
}

function notImplemented(label: string, message: string): Endpoint {
  return { label, handle: ({ res }) => writeError(res, 501, 'not_implemented', message) };
}

// --- Data API -------------------------------------------------------------------------------------

const MSG_EVALUATION_ERROR = 'error(s) occurred while evaluating query';
const INPUT_KEY_MISSING = struct({ code: 'api_usage_warning', message: "'input' key missing from the request" });

/** The timings of one evaluation, under OPA's metric names. */
class Timings {
  private readonly start = process.hrtime.bigint();
  private parsed = this.start;
  private evalStart = this.start;
  private evalEnd = this.start;

  inputParsed(): void {
    this.parsed = process.hrtime.bigint();
  }

  evaluating(): void {
    this.evalStart = process.hrtime.bigint();
  }

  evaluated(): void {
    this.evalEnd = process.hrtime.bigint();
  }

  /** The compiled module is the prepared query, so every evaluation is a query-cache hit. */
  toMetrics(): Record<string, number> {
    return {
      counter_server_query_cache_hit: 1,
      timer_rego_input_parse_ns: Number(this.parsed - this.start),
      timer_rego_query_eval_ns: Number(this.evalEnd - this.evalStart),
      timer_server_handler_ns: Number(this.evalEnd - this.start),
    };
  }
}

/** The request's input could not be read; answered 400 invalid_parameter with this message. */
class InputError extends Error {
  override readonly name = 'InputError';
}

type Evaluation = { ok: true; result: unknown } | { ok: false; status: number; code: string; message: string; errors?: ErrorDetail[] };

class DataApi {
  constructor(
    private readonly deps: ApiDeps,
    private readonly limits: BodyLimits,
  ) {}

  /** Whether evaluations are logged now (and answers carry a decision_id): the configuration can change. */
  private logging(): boolean {
    return this.deps.decisionLog !== undefined && (this.deps.logsDecisions?.() ?? true);
  }

  /** GET and POST /v1/data[/{path}]: 200 with `result` when defined, without when not. */
  async v1({ req, res, query, rest }: Exchange, method: 'GET' | 'POST'): Promise<void> {
    const timings = new Timings();
    const decisionId = this.logging() ? randomUUID() : undefined;
    let input: unknown;
    try {
      input = method === 'GET' ? inputFromQuery(query.get('input')) : await this.inputFromBody(req);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      writeError(res, 400, 'invalid_parameter', err.message);
      return;
    }
    timings.inputParsed();
    const outcome = this.evaluate(req, rest, input, timings, decisionId, false);
    if (!outcome.ok) {
      writeError(res, outcome.status, outcome.code, outcome.message, outcome.errors);
      return;
    }
    const withMetrics = boolParam(query, 'metrics') || boolParam(query, 'instrument');
    const body = struct({
      decision_id: decisionId,
      metrics: withMetrics ? timings.toMetrics() : undefined,
      result: outcome.result,
      warning: method === 'POST' && (input === undefined || input === null) ? INPUT_KEY_MISSING : undefined,
    });
    writeJson(res, body, boolParam(query, 'pretty'));
  }

  /** POST /v0/data[/{path}] and POST /: the body is the input, the answer the bare document, undefined is 404. */
  async v0({ req, res, query }: Exchange, escapedPath: string): Promise<void> {
    const timings = new Timings();
    const decisionId = this.logging() ? randomUUID() : undefined;
    let input: unknown;
    try {
      input = (await this.readDocument(req)) ?? null;
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      writeError(res, 400, 'invalid_parameter', `unexpected parse error for input: ${err.message}`);
      return;
    }
    timings.inputParsed();
    const outcome = this.evaluate(req, escapedPath, input, timings, decisionId, true);
    if (!outcome.ok) writeError(res, outcome.status, outcome.code, outcome.message, outcome.errors);
    else writeJson(res, outcome.result, boolParam(query, 'pretty'));
  }

  /** Evaluates and logs the decision; `undefinedIsError` for v0, where an undefined document is a 404. */
  private evaluate(req: IncomingMessage, escapedPath: string, input: unknown, timings: Timings, decisionId: string | undefined, undefinedIsError: boolean): Evaluation {
    let outcome: Evaluation;
    let path = escapedPath;
    try {
      const dataPath = parseDataPath(escapedPath);
      path = dataPath.path;
      timings.evaluating();
      const { covered, result } = this.deps.evaluate(dataPath.path, input);
      timings.evaluated();
      outcome = result === undefined && undefinedIsError ? undefinedDocument(covered, dataPath.ref) : { ok: true, result };
    } catch (err) {
      timings.evaluated();
      outcome = evaluationFailure(err);
    }
    return this.logDecision(req, path, input, outcome, timings, decisionId);
  }

  private logDecision(req: IncomingMessage, path: string, input: unknown, outcome: Evaluation, timings: Timings, decisionId: string | undefined): Evaluation {
    if (!this.deps.decisionLog || decisionId === undefined) return outcome;
    const decision: ApiDecision = {
      decisionId,
      path,
      input,
      result: outcome.ok ? outcome.result : undefined,
      ...(outcome.ok ? {} : { error: { code: outcome.code, message: outcome.message } }),
      remoteAddr: remoteAddr(req),
      metrics: timings.toMetrics(),
    };
    try {
      this.deps.decisionLog(decision);
    } catch (err) {
      return { ok: false, status: 500, code: 'internal_error', message: `decision_logs: ${err instanceof Error ? err.message : String(err)}` };
    }
    return outcome;
  }

  /** The `input` member of a /v1/data POST body; undefined when absent or null. */
  private async inputFromBody(req: IncomingMessage): Promise<unknown> {
    const doc = await this.readDocument(req);
    if (doc === undefined || doc === null) return undefined;
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      throw new InputError(`body contains malformed input document: json: cannot unmarshal ${goKind(doc)} into Go value of type types.alias`);
    }
    return (doc as Record<string, unknown>).input ?? undefined;
  }

  /** The body as one JSON (or, by Content-Type, YAML) document; undefined when the body is empty. */
  private async readDocument(req: IncomingMessage): Promise<unknown> {
    let body: Buffer;
    try {
      body = await readBody(req, this.limits);
    } catch (err) {
      if (err instanceof BodyError) throw new InputError(`could not decompress the body: ${err.message}`);
      throw err;
    }
    // As OPA, any Content-Type naming yaml means YAML (there is no one standard name for it).
    const yaml = (req.headers['content-type'] ?? '').includes('yaml');
    try {
      if (yaml) return body.length === 0 ? undefined : parseYaml(decodeUtf8(body));
      return decodeFirstJsonValue(body);
    } catch (err) {
      if (err instanceof GoError || err instanceof YAMLError) throw new InputError(`body contains malformed input document: ${firstLine(err.message)}`);
      throw err;
    }
  }
}

/** v0's 404: "document undefined" where a rule answers the path, "document missing" where nothing does. */
function undefinedDocument(covered: boolean, ref: string): Evaluation {
  return { ok: false, status: 404, code: 'undefined_document', message: `${covered ? 'document undefined' : 'document missing'}: ${ref}` };
}

// The engine reports where the policy failed as "policy aborted: FILE:ROW:COL: MESSAGE".
const ABORT_AT = /^policy aborted: (.+):(\d+):(\d+): (.*)$/s;

function evaluationFailure(err: unknown): Evaluation {
  if (err instanceof InvalidPathError) {
    // OPA's ErrorAuto does not see the invalid_parameter error as a bad request: 500, code in the text.
    return { ok: false, status: 500, code: 'internal_error', message: `invalid_parameter: ${err.message}` };
  }
  if (err instanceof EvaluationError) {
    const at = ABORT_AT.exec(err.message);
    const detail: ErrorDetail = at
      ? { code: evalErrorCode(at[4]!), message: at[4]!, location: { file: at[1]!, row: Number(at[2]), col: Number(at[3]) } }
      : { code: evalErrorCode(err.message), message: err.message };
    return { ok: false, status: 500, code: 'internal_error', message: MSG_EVALUATION_ERROR, errors: [detail] };
  }
  throw err;
}

/** OPA's topdown error codes: conflicting rule outputs have their own; all else is internal. */
function evalErrorCode(message: string): string {
  return /\bconflict\b/.test(message) ? 'eval_conflict_error' : 'eval_internal_error';
}

/** GET /v1/data?input=...: the last `input` parameter, decoded as OPA's util.UnmarshalJSON. */
function inputFromQuery(values: readonly string[] | undefined): unknown {
  const text = values?.[values.length - 1];
  if (text === undefined) return undefined;
  try {
    return unmarshalJson(text);
  } catch (err) {
    if (err instanceof GoError) throw new InputError(`parameter contains malformed input document: ${err.message}`);
    throw err;
  }
}

// V8 names where a JSON text stops being one value; the value before is what Go's Decoder reads.
const TRAILING_DATA = /^Unexpected non-whitespace character after JSON at position (\d+)/;

/**
 * OPA reads bodies with json.Decoder.Decode: the first value counts, text after it is ignored, and an
 * empty body means no document.
 */
function decodeFirstJsonValue(body: Buffer): unknown {
  if (isBlank(body)) return undefined;
  try {
    return unmarshalJsonBytes(body);
  } catch (err) {
    if (!(err instanceof GoError)) throw err;
    const text = decodeUtf8(body);
    const end = firstValueEnd(text);
    if (end === undefined) throw err;
    return unmarshalJson(text.slice(0, end));
  }
}

function isBlank(body: Buffer): boolean {
  for (const c of body) if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  return true;
}

function firstValueEnd(text: string): number | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    const m = TRAILING_DATA.exec((err as Error).message);
    return m ? Number(m[1]) : undefined;
  }
}

/** What Go's json calls a JSON value that is not an object. */
function goKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  return typeof value === 'boolean' ? 'bool' : typeof value;
}

function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

/** Go's r.RemoteAddr: host:port, the host bracketed when it is IPv6. */
function remoteAddr(req: IncomingMessage): string {
  const host = req.socket.remoteAddress ?? '';
  return `${host.includes(':') ? `[${host}]` : host}:${req.socket.remotePort ?? 0}`;
}

// --- Policies and config --------------------------------------------------------------------------

/** GET /v1/policies. `ast` is left out: the agent keeps no parsed Rego, only the compiled module. */
function listPolicies(deps: ApiDeps, { res, query }: Exchange): void {
  const result = deps.policies().map((p) => struct({ id: p.id, raw: p.raw }));
  writeJson(res, struct({ result }), boolParam(query, 'pretty'));
}

/** GET /v1/policies/{id}. */
function getPolicy(deps: ApiDeps, { res, query, rest }: Exchange): void {
  let id = rest;
  try {
    id = pathUnescape(rest);
  } catch {
    // An id whose escapes do not decode is looked up as written.
  }
  const policy = deps.policies().find((p) => p.id === id);
  if (!policy) {
    writeError(res, 404, 'resource_not_found', `storage_not_found_error: policy id ${quote(id)}`);
    return;
  }
  writeJson(res, struct({ result: struct({ id: policy.id, raw: policy.raw }) }), boolParam(query, 'pretty'));
}

/** GET /v1/config: the effective configuration less service credentials and private keys, as OPA's ActiveConfig. */
function getConfig(deps: ApiDeps, { res, query }: Exchange): void {
  let result: Record<string, unknown>;
  try {
    result = redactConfig(deps.config());
  } catch (err) {
    if (!(err instanceof ConfigShapeError)) throw err;
    writeError(res, 500, 'internal_error', err.message);
    return;
  }
  writeJson(res, struct({ result }), boolParam(query, 'pretty'));
}

class ConfigShapeError extends Error {
  override readonly name = 'ConfigShapeError';
}

/** A copy of `config` without `services.*.credentials` and `keys.*.key` / `keys.*.private_key`. */
export function redactConfig(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown>;
  const services = copy.services;
  if (services !== undefined && services !== null) {
    if (typeof services !== 'object') throw new ConfigShapeError(`illegal service config type: ${goTypeName(services)}`);
    for (const service of Object.values(services)) removeKeys(service, ['credentials']);
  }
  const keys = copy.keys;
  if (keys !== undefined && keys !== null) {
    if (typeof keys !== 'object' || Array.isArray(keys)) throw new ConfigShapeError(`illegal keys config type: ${goTypeName(keys)}`);
    for (const key of Object.values(keys)) removeKeys(key, ['key', 'private_key']);
  }
  return copy;
}

function removeKeys(entry: unknown, names: readonly string[]): void {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigShapeError('type assertion error');
  for (const name of names) delete (entry as Record<string, unknown>)[name];
}

