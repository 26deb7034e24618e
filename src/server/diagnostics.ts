// The diagnostics listener on KMESH_OPA_DIAGNOSTIC_ADDR: what OPA's --diagnostic-addr serves, the
// health checks and the Prometheus scrape, read-only. Every other path is 404, so that this port can
// be exposed to probes and scrapers without exposing policy, data or configuration.
import { createInstrument, healthEndpoint, healthPathEndpoint, metricsEndpoint, type ApiDeps } from './api.js';
import { createRouter, type HttpHandler } from './http.js';

export function createDiagnosticsHandler(deps: ApiDeps): HttpHandler {
  return createRouter({
    routes: [
      { path: '/health', methods: { GET: healthEndpoint(deps) } },
      { path: '/health/', methods: { GET: healthPathEndpoint(deps) } },
      { path: '/metrics', methods: { GET: metricsEndpoint(deps.registry) } },
    ],
    instrument: createInstrument(deps.registry, deps.httpDurationBuckets),
    log: deps.log,
  });
}
