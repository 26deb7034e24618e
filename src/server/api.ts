// What the REST and diagnostics listeners need from the agent, and the endpoints both serve: OPA's
// health checks and the Prometheus scrape. The handlers own no agent state: every answer is read
// through these functions at request time, so a policy swap or a lifecycle change shows at once.
import { Counter, Histogram, type Registry } from 'prom-client';
import { pathUnescape } from '../authz/gocompat/url.js';
import { quote } from '../authz/gocompat/text.js';
import type { Logger } from '../log.js';
import { boolParam, listParam, writeError, writeJsonStatus, type BodyLimits, type Endpoint, type Exchange, type Instrument } from './http.js';

/** OPA's plugin states (plugins.State). */
export type PluginState = 'NOT_READY' | 'OK' | 'ERROR' | 'WARN';

/** A lifecycle probe: fine, or not and why (shown to the prober as `{"error": why}`). */
export type Probe = { ok: true } | { ok: false; error: string };

/** One REST evaluation, for the decision log (OPA logs the same for /v0/data, /v1/data and POST /). */
export interface ApiDecision {
  decisionId: string;
  /** The data path asked for, `envoy/authz/allow` ('' for the whole document). */
  path: string;
  /** The input evaluated; undefined when the request gave none. */
  input: unknown;
  /** The result; undefined when the document is undefined. */
  result: unknown;
  /** Set when evaluation failed or (for /v0/data and POST /) the document was undefined. */
  error?: { code: string; message: string };
  /** The client's address (OPA's `requested_by`). */
  remoteAddr: string;
  /** OPA's per-decision metrics: timer_rego_input_parse_ns, timer_rego_query_eval_ns, timer_server_handler_ns, ... */
  metrics: Readonly<Record<string, number>>;
}

export interface ApiDeps {
  /**
   * Evaluates the document at `path` (slash-separated, '' for data itself) under the active policy.
   * `covered: false` when no policy is loaded or nothing in it answers the path (answered as OPA
   * answers a document that does not exist). Throws EvaluationError when the policy fails.
   */
  evaluate(path: string, input: unknown): { covered: boolean; result: unknown };
  /** The Rego modules behind the active policy (none for a precompiled bundle). */
  policies(): readonly { id: string; raw: string }[];
  /** The effective OPA configuration; /v1/config removes credentials and private keys from a copy. */
  config(): Readonly<Record<string, unknown>>;
  /** OPA's plugin states by plugin name (bundle, discovery, decision_logs, envoy_ext_authz_grpc, ...). */
  plugins(): Readonly<Record<string, PluginState>>;
  /** GET /v1/status: the agent's status document. */
  status?(): Record<string, unknown>;
  /** /health/live: the process is up and able to answer. */
  live(): Probe;
  /** /health/ready: a policy is active and the agent is not shutting down. */
  ready(): Probe;
  /** The agent's registry: /metrics serves it, http_request_duration_seconds is registered on it. */
  registry: Registry;
  /** Present when decision logs are on: REST evaluations are logged and answers carry `decision_id`. */
  decisionLog?(decision: ApiDecision): void;
  /** Whether decision logging is on right now (absent: whenever decisionLog is given). */
  logsDecisions?(): boolean;
  /** OPA's default_decision for `POST /` (default `/system/main`). */
  defaultDecision?: string;
  /** server.decoding limits (OPA's defaults when absent). */
  bodyLimits?: BodyLimits;
  /** server.metrics.prom.http_request_duration_seconds.buckets (OPA's defaults when absent). */
  httpDurationBuckets?: number[];
  log: Logger;
}

/** OPA's default buckets for http_request_duration_seconds. */
export const DEFAULT_HTTP_DURATION_BUCKETS = [1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 0.01, 0.1, 1];

const DURATION = 'http_request_duration_seconds';
const CANCELLATIONS = 'http_request_cancellations';

/**
 * Measures answered requests as OPA does: one histogram for both listeners (registered on first use,
 * shared by the second), by status code, handler label and lowercase method; a request whose client
 * went away before the answer was sent also counts as a cancellation.
 */
export function createInstrument(registry: Registry, buckets = DEFAULT_HTTP_DURATION_BUCKETS): Instrument {
  const duration =
    (registry.getSingleMetric(DURATION) as Histogram<'code' | 'handler' | 'method'> | undefined) ??
    new Histogram({ name: DURATION, help: 'A histogram of duration for requests.', labelNames: ['code', 'handler', 'method'], buckets, registers: [registry] });
  const cancellations =
    (registry.getSingleMetric(CANCELLATIONS) as Counter<'code' | 'handler' | 'method'> | undefined) ??
    new Counter({ name: CANCELLATIONS, help: 'A count of cancelled requests.', labelNames: ['code', 'handler', 'method'], registers: [registry] });
  return ({ req, res }, label, started) => {
    const labels = { code: String(res.statusCode), handler: label, method: (req.method ?? 'GET').toLowerCase() };
    duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    if (!res.writableFinished) cancellations.inc(labels);
  };
}

/** GET /metrics: the registry in Prometheus' text format. */
export function metricsEndpoint(registry: Registry): Endpoint {
  return {
    label: 'metrics',
    plain: true,
    handle: async ({ res }) => {
      const text = await registry.metrics();
      res.setHeader('Content-Type', registry.contentType);
      res.end(text);
    },
  };
}

/** Plugins whose state decides `?bundles` (OPA's bundlesReady). */
const BUNDLE_PLUGINS = ['discovery', 'bundle'];

/**
 * GET /health as OPA: 200 `{}`, or 500 `{"error": ...}` when `?bundles` is given and the bundle or
 * discovery plugin is not OK, or `?plugins` is given and some plugin not named by `exclude-plugin` is
 * not OK.
 */
export function healthEndpoint(deps: ApiDeps): Endpoint {
  return {
    label: 'health',
    handle: ({ res, query }) => {
      const states = deps.plugins();
      const bundles = boolParam(query, 'bundle') || boolParam(query, 'bundles');
      if (bundles && BUNDLE_PLUGINS.some((name) => states[name] !== undefined && states[name] !== 'OK')) {
        writeHealth(res, 'one or more bundles are not activated');
        return;
      }
      if (boolParam(query, 'plugins')) {
        const excluded = new Set(listParam(query, 'exclude-plugin'));
        if (Object.entries(states).some(([name, state]) => !excluded.has(name) && state !== 'OK')) {
          writeHealth(res, 'one or more plugins are not up');
          return;
        }
      }
      writeHealth(res, undefined);
    },
  };
}

// Whether every plugin has been OK at least once (OPA's allPluginsOkOnce), kept per deps so that the
// REST and diagnostics listeners of one agent agree.
const pluginsReadyOnce = new WeakSet<ApiDeps>();

/**
 * GET /health/{path}: `live` and `ready` are the agent's lifecycle probes; any other path is answered
 * as OPA does, by the policy's `data.system.health.<path>` (healthy only when it is `true`), with
 * OPA's input `{"plugin_state": {...}, "plugins_ready": bool}`.
 */
export function healthPathEndpoint(deps: ApiDeps): Endpoint {
  return {
    label: 'health',
    handle: ({ res, rest }) => {
      if (rest === 'live' || rest === 'ready') {
        const probe = rest === 'live' ? deps.live() : deps.ready();
        writeHealth(res, probe.ok ? undefined : probe.error);
        return;
      }
      let path: DataPath;
      try {
        path = parseDataPath(`system/health/${rest}`);
      } catch (err) {
        if (!(err instanceof InvalidPathError)) throw err;
        writeError(res, 400, 'invalid_parameter', err.message);
        return;
      }
      writeHealth(res, healthPolicyError(deps, path));
    },
  };
}

function healthPolicyError(deps: ApiDeps, path: DataPath): string | undefined {
  const states = deps.plugins();
  if (!pluginsReadyOnce.has(deps) && Object.values(states).every((s) => s === 'OK')) pluginsReadyOnce.add(deps);
  const input = { plugin_state: { ...states }, plugins_ready: pluginsReadyOnce.has(deps) };
  let result: unknown;
  try {
    result = deps.evaluate(path.path, input).result;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (result === undefined) return `health check (${path.ref}) was undefined`;
  return result === true ? undefined : `health check (${path.ref}) returned unexpected value`;
}

function writeHealth(res: Exchange['res'], error: string | undefined): void {
  writeJsonStatus(res, error === undefined ? 200 : 500, error === undefined ? {} : { error });
}

// --- Data paths -----------------------------------------------------------------------------------

/** A URL path that cannot name a document (OPA: "invalid path: ..."). */
export class InvalidPathError extends Error {
  override readonly name = 'InvalidPathError';
}

export interface DataPath {
  /** The unescaped segments joined by '/', as ApiDeps.evaluate takes them. */
  path: string;
  /** The same as a Rego reference, as OPA prints it in messages: `data.envoy.authz["a-b"][0]`. */
  ref: string;
}

// Rego v1 keywords: a segment named so is printed ["if"], not .if.
const KEYWORDS = new Set(['not', 'package', 'import', 'as', 'default', 'else', 'with', 'null', 'true', 'false', 'some', 'if', 'contains', 'in', 'every']);
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INT64_TEXT = /^[+-]?\d{1,19}$/;
const CONTROL_OR_BACKSLASH = /[\\\p{Cc}]/u;
const INT64_MAX = 2n ** 63n - 1n;

/**
 * OPA's stringPathToRef: `envoy/authz/allow` (still %-escaped, as in the URL) to its segments; empty
 * segments are skipped, each is unescaped, and one holding a double quote is refused.
 */
export function parseDataPath(escaped: string): DataPath {
  const segments: string[] = [];
  let ref = 'data';
  for (const raw of escaped.split('/')) {
    if (raw === '') continue;
    let seg = raw;
    try {
      seg = pathUnescape(raw);
    } catch {
      // Go keeps a segment whose escapes do not decode as it is.
    }
    if (seg.includes('"')) throw new InvalidPathError(`invalid path: invalid ref term '${seg}'`);
    segments.push(seg);
    ref += refTerm(seg);
  }
  return { path: segments.join('/'), ref };
}

function refTerm(seg: string): string {
  if (INT64_TEXT.test(seg)) {
    const n = BigInt(seg);
    // Go's Atoi64 takes only what fits an int64; such a segment is a number term.
    if (n <= INT64_MAX && n >= -INT64_MAX - 1n) return `[${n}]`;
  }
  if (VAR_NAME.test(seg) && !KEYWORDS.has(seg)) return `.${seg}`;
  return `[${CONTROL_OR_BACKSLASH.test(seg) ? quote(seg) : `"${seg}"`}]`;
}
