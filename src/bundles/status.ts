// Status reports as OPA 1.19's status plugin sends them: `POST /status[/<partition_name>]` to the configured
// service with an UpdateRequestV1 body (field names and Go's RFC 3339 timestamps as OPA writes them). A
// report goes out on each change; while one is in flight only the latest change waits behind it. OPA logs
// a failed report and waits for the next change; here a failure is also retried with backoff until a
// newer report supersedes it, so that a consumer that was down catches up without a change.
import type { Logger } from '../log.js';
import { backoffMs } from '../decisionlog/uploader.js';
import { ConfigValueError, SectionReader } from '../services/config-values.js';
import type { ServiceClients } from '../services/client.js';

export class StatusConfigError extends ConfigValueError {
  override readonly name = 'StatusConfigError';
}

export interface StatusConfig {
  service?: string;
  partition_name?: string;
  console?: boolean;
}

/** Parses `status` (absent, or naming nothing to report to: undefined), as OPA's status ConfigBuilder. */
export function parseStatusConfig(doc: unknown, serviceNames: readonly string[]): StatusConfig | undefined {
  if (doc === undefined || doc === null) return undefined;
  try {
    const r = SectionReader.of('status', doc);
    const plugin = r.string('plugin');
    const consoleLogs = r.boolean('console') ?? false;
    const prometheus = r.boolean('prometheus') ?? false;
    let service = r.string('service') ?? '';
    const partition = r.string('partition_name') ?? '';
    if (plugin === undefined && service === '' && serviceNames.length === 0 && !consoleLogs && !prometheus) return undefined;
    if (plugin !== undefined) throw new StatusConfigError(`invalid plugin name "${plugin}" in status`);
    if (service === '' && serviceNames.length > 0 && !(consoleLogs || prometheus)) service = serviceNames[0]!;
    else if (service !== '' && !serviceNames.includes(service)) throw new StatusConfigError(`invalid service name "${service}" in status`);
    return { ...(service ? { service } : {}), ...(partition ? { partition_name: partition } : {}), console: consoleLogs };
  } catch (err) {
    if (err instanceof ConfigValueError && !(err instanceof StatusConfigError)) throw new StatusConfigError(err.message);
    throw err;
  }
}

/** A bundle's (or discovery's) status, as the bundle plugin keeps it; absent times are Go's zero time. */
export interface BundleStatusLike {
  name: string;
  activeRevision?: string;
  lastSuccessfulActivation?: Date;
  type?: string;
  size?: number;
  lastSuccessfulDownload?: Date;
  lastSuccessfulRequest?: Date;
  lastRequest?: Date;
  code?: string;
  message?: string;
  /** Compile errors, each as OPA's ast.Error JSON ({code, message, location}). */
  errors?: unknown[];
  httpCode?: number;
  metrics?: Record<string, unknown>;
}

export interface StatusSnapshot {
  bundles: Record<string, BundleStatusLike>;
  discovery?: BundleStatusLike;
  plugins: Record<string, { state: string; message?: string }>;
  decisionLogs?: { code?: string; message?: string; http_code?: number; metrics?: Record<string, unknown> };
  metrics?: Record<string, unknown>;
}

export interface StatusReporter {
  /** Records the latest state and reports it; never waits for the network. */
  update(s: StatusSnapshot): void;
  /** Stops retrying; resolves when the report in flight (if any) has finished. */
  stop(): Promise<void>;
}

export interface StatusReporterOptions {
  services: ServiceClients;
  config: StatusConfig;
  labels: Record<string, string>;
  log: Logger;
  /** Upper bound of the retry delay (ms). */
  maxRetryDelayMs?: number;
}

const DEFAULT_MAX_RETRY_DELAY_MS = 60_000;

export function createStatusReporter(o: StatusReporterOptions): StatusReporter {
  const path = `/status/${o.config.partition_name ?? ''}`;
  const maxDelay = o.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS;
  let pending: StatusSnapshot | undefined;
  let inFlight: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retries = 0;
  let stopped = false;

  const send = async (body: string): Promise<void> => {
    if (o.config.console) o.log.info('Status Log', { type: 'openpolicyagent.org/status', ...(JSON.parse(body) as Record<string, unknown>) });
    if (!o.config.service) return;
    let status: number;
    try {
      status = (await o.services.request(o.config.service, { method: 'POST', path, headers: { 'content-type': 'application/json' }, body })).status;
    } catch (err) {
      throw new Error(`status update failed: ${(err as Error).message}`);
    }
    if (status < 200 || status >= 300) throw new Error(`status update failed, server replied with HTTP ${status} ${HTTP_STATUS_TEXT[status] ?? ''}`.trimEnd());
  };

  const pump = (): void => {
    if (inFlight || stopped || !pending) return;
    const snapshot = pending;
    pending = undefined;
    inFlight = send(encodeStatus(snapshot, o.labels)).then(
      () => {
        retries = 0;
        o.log.info('Status update sent successfully.');
      },
      (err: unknown) => {
        o.log.error(`${(err as Error).message}.`);
        // Only when nothing newer is waiting: the newer report replaces this one.
        if (!pending && !stopped) {
          pending = snapshot;
          retryTimer = setTimeout(() => {
            retryTimer = undefined;
            pump();
          }, backoffMs(++retries, maxDelay));
          retryTimer.unref();
        }
      },
    ).finally(() => {
      inFlight = undefined;
      if (!retryTimer) pump();
    });
  };

  return {
    update(s) {
      if (stopped) return;
      pending = s;
      if (retryTimer) {
        clearTimeout(retryTimer);
        retryTimer = undefined;
      }
      pump();
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      await inFlight;
    },
  };
}

/** The UpdateRequestV1 JSON body, fields in the order and with the omissions of Go's encoder. */
export function encodeStatus(s: StatusSnapshot, labels: Record<string, string>): string {
  return JSON.stringify(statusDocument(s, labels));
}

/** OPA's status document (what encodeStatus writes), as an object: GET /v1/status serves it too. */
export function statusDocument(s: StatusSnapshot, labels: Record<string, string>): Record<string, unknown> {
  const body: Record<string, unknown> = { labels: Object.fromEntries(sortedEntries(labels)) };
  const bundles = sortedEntries(s.bundles);
  if (bundles.length > 0) body.bundles = Object.fromEntries(bundles.map(([name, b]) => [name, bundleStatusJson(b)]));
  if (s.discovery) body.discovery = bundleStatusJson(s.discovery);
  if (s.decisionLogs) body.decision_logs = compact({ code: s.decisionLogs.code, message: s.decisionLogs.message, http_code: s.decisionLogs.http_code, metrics: s.decisionLogs.metrics });
  if (s.metrics) body.metrics = s.metrics;
  const plugins = sortedEntries(s.plugins);
  if (plugins.length > 0) body.plugins = Object.fromEntries(plugins.map(([name, p]) => [name, compact({ state: p.state, message: p.message })]));
  return body;
}

/** Go writes map keys in sorted order. */
function sortedEntries<T>(o: Record<string, T>): [string, T][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** One bundle's (or discovery's) status as OPA writes it: in status reports and in GET /v1/status. */
function bundleStatusJson(b: BundleStatusLike): Record<string, unknown> {
  return {
    name: b.name,
    ...compact({ active_revision: b.activeRevision }),
    last_successful_activation: goTime(b.lastSuccessfulActivation),
    ...compact({ type: b.type, size: b.size || undefined }),
    last_successful_download: goTime(b.lastSuccessfulDownload),
    last_successful_request: goTime(b.lastSuccessfulRequest),
    last_request: goTime(b.lastRequest),
    ...compact({ code: b.code, message: b.message, errors: b.errors?.length ? b.errors : undefined, metrics: b.metrics, http_code: b.httpCode }),
  };
}

/** Drops what Go's omitempty drops: empty strings, undefined. */
function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ''));
}

const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

/** Go's time.Time JSON for a UTC time: RFC 3339 with the fraction's trailing zeros dropped. */
export function goTime(d: Date | undefined): string {
  if (!d) return GO_ZERO_TIME;
  return d.toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

// Go's http.StatusText for the codes a status consumer is likely to answer.
const HTTP_STATUS_TEXT: Readonly<Record<number, string>> = {
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 304: 'Not Modified',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 409: 'Conflict', 413: 'Request Entity Too Large', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};
