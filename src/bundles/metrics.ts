// Bundle download metrics. The unprefixed names are those OPA's status plugin exports under
// /metrics (times as Unix nanoseconds), so dashboards built for OPA work; the kmesh_opa_ counter
// gives failures a small, fixed set of reasons to alert on.
import { Counter, Gauge, type Registry } from 'prom-client';

/** Why a bundle was not activated: no answer, an HTTP error status, too big, refused by activation, not persisted. */
export type BundleFailureReason = 'request' | 'http' | 'size_limit' | 'activation' | 'persist';

export interface BundleMetrics {
  request(name: string, at: Date): void;
  successfulRequest(name: string, at: Date): void;
  download(name: string, at: Date): void;
  activated(name: string, revision: string, at: Date): void;
  failed(name: string, reason: BundleFailureReason, code: string, message: string): void;
}

export function createBundleMetrics(registry: Registry): BundleMetrics {
  const failures = metric(registry, Counter, {
    name: 'kmesh_opa_bundle_failures_total',
    help: 'Bundle downloads or activations that failed, by bundle and reason (request, http, size_limit, activation, persist); the previous bundle stays active.',
    labelNames: ['name', 'reason'],
  });
  const loaded = metric(registry, Counter, { name: 'bundle_loaded_counter', help: 'Counter for the bundle loaded.', labelNames: ['name'] });
  const failLoad = metric(registry, Counter, {
    name: 'bundle_failed_load_counter',
    help: 'Counter for the failed bundle load.',
    labelNames: ['name', 'code', 'message'],
  });
  const lastRequest = metric(registry, Gauge, { name: 'last_bundle_request', help: 'Gauge for the last bundle request.', labelNames: ['name'] });
  const lastActivation = metric(registry, Gauge, {
    name: 'last_success_bundle_activation',
    help: 'Gauge for the last success bundle activation.',
    labelNames: ['name', 'active_revision'],
  });
  const lastDownload = metric(registry, Gauge, { name: 'last_success_bundle_download', help: 'Gauge for the last success bundle download.', labelNames: ['name'] });
  const lastSuccessfulRequest = metric(registry, Gauge, { name: 'last_success_bundle_request', help: 'Gauge for the last success bundle request.', labelNames: ['name'] });
  const activeRevision = new Map<string, string>();
  return {
    request: (name, at) => lastRequest.labels({ name }).set(unixNanos(at)),
    successfulRequest: (name, at) => lastSuccessfulRequest.labels({ name }).set(unixNanos(at)),
    download: (name, at) => lastDownload.labels({ name }).set(unixNanos(at)),
    activated(name, revision, at) {
      loaded.labels({ name }).inc();
      // One series per bundle: the previous revision's goes.
      const previous = activeRevision.get(name);
      if (previous !== undefined) lastActivation.remove({ name, active_revision: previous });
      activeRevision.set(name, revision);
      lastActivation.labels({ name, active_revision: revision }).set(unixNanos(at));
    },
    failed(name, reason, code, message) {
      failures.labels({ name, reason }).inc();
      failLoad.labels({ name, code, message }).inc();
    },
  };
}

function unixNanos(at: Date): number {
  return at.getTime() * 1e6;
}

type MetricClass<M> = new (config: { name: string; help: string; labelNames: string[]; registers: Registry[] }) => M;

/** The registry's metric of that name if one was registered before (a second plugin, a reload), else a new one. */
function metric<M extends Counter<string> | Gauge<string>>(
  registry: Registry,
  Kind: MetricClass<M>,
  config: { name: string; help: string; labelNames: string[] },
): M {
  const existing = registry.getSingleMetric(config.name);
  if (existing instanceof Kind) return existing;
  return new Kind({ ...config, registers: [registry] });
}
