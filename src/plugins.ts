// The parts the OPA configuration document drives: services, decision logs, bundles, discovery and
// status. They are built together from one effective document, so that a new document (an OPAPolicy's
// agentConfig, a discovered config) replaces all of them at once: the new set is built and checked
// before the old one is stopped, and an invalid document leaves the running set in place.
import type { Registry } from 'prom-client';
import type { DecisionRecord } from './authz/check.js';
import { bundlesFromOpaConfig, type BundleConfig } from './bundles/config.js';
import { parseKeys, type BundleKey } from './bundles/keys.js';
import { unpackBundle } from './bundles/download.js';
import { createBundleMetrics, type BundleMetrics } from './bundles/metrics.js';
import { createBundlePlugin, type BundlePlugin, type BundleStatus } from './bundles/plugin.js';
import { verifyBundle } from './bundles/signing.js';
import { createStatusReporter, parseStatusConfig, type StatusConfig, type StatusReporter, type StatusSnapshot } from './bundles/status.js';
import type { ActivePolicy } from './engine/load.js';
import {
  createDecisionLogs,
  parseDecisionLogsConfig,
  type ConsoleSink,
  type DecisionLogs,
  type DecisionLogsConfig,
  type DecisionLogStatus,
  type EvaluateMaskDrop,
} from './decisionlog/index.js';
import type { Logger } from './log.js';
import type { PluginState } from './server/api.js';
import { createServiceClients, parseServices, type ServiceClients } from './services/index.js';

export type ConfigDoc = Record<string, unknown>;

export interface PluginDeps {
  labels: Readonly<Record<string, string>>;
  log: Logger;
  registry: Registry;
  console: ConsoleSink;
  evaluateMaskDrop: EvaluateMaskDrop;
  /** The decision as configured, for decision log events. */
  decision: { path: string } | { query: string };
  /** Loads (without activating) a downloaded, verified bundle's files under the agent's decision path and limits. */
  loadBundle(files: ReadonlyMap<string, Uint8Array>, origin: string): Promise<ActivePolicy>;
  /** The bundle that decides changed (undefined: none active). */
  onBundlePolicy(active: ActivePolicy | undefined): void;
  /** Something a status report shows changed. */
  onStatusChange?(): void;
}

interface ConfiguredBundle {
  config: BundleConfig;
  plugin?: BundlePlugin;
  active?: ActivePolicy;
}

export class OpaPlugins {
  readonly services: ServiceClients;
  private readonly decisionLogsConfig: DecisionLogsConfig | undefined;
  private decisionLogs: DecisionLogs | undefined;
  private readonly keys: Map<string, BundleKey>;
  /** In configuration order: the first one active decides (each bundle is a whole policy). */
  private readonly bundles: ConfiguredBundle[];
  private readonly bundleMetrics: BundleMetrics;
  private readonly statusConfig: StatusConfig | undefined;
  private reporter: StatusReporter | undefined;

  /** Throws on an invalid section (one line naming the key); opens nothing. */
  constructor(
    readonly config: Readonly<ConfigDoc>,
    private readonly deps: PluginDeps,
  ) {
    this.services = createServiceClients(parseServices(config.services), { logger: deps.log });
    this.decisionLogsConfig = parseDecisionLogsConfig(config.decision_logs, this.services.names);
    this.keys = parseKeys(config.keys);
    const persistenceDirectory = typeof config.persistence_directory === 'string' ? { persistenceDirectory: config.persistence_directory } : {};
    const { bundles, usesDeprecatedBundle } = bundlesFromOpaConfig(config, this.services.names, { ...persistenceDirectory, keys: this.keys });
    if (usesDeprecatedBundle) deps.log.warn('the "bundle" section is deprecated in OPA; use "bundles"');
    this.bundles = bundles.map((b) => ({ config: b }));
    this.bundleMetrics = createBundleMetrics(deps.registry);
    this.statusConfig = parseStatusConfig(config.status, this.services.names);
  }

  /**
   * Keeps the active policies of bundles that the previous set also had (same name, service and
   * resource), so a configuration change does not fall back to a lower layer until they download again.
   */
  inherit(previous: OpaPlugins): void {
    for (const b of this.bundles) {
      const old = previous.bundles.find((o) => o.config.name === b.config.name && o.config.service === b.config.service && o.config.resource === b.config.resource);
      if (old?.active) b.active = old.active;
    }
  }

  /** The policy of the first configured bundle that is active. */
  get bundlePolicy(): ActivePolicy | undefined {
    return this.bundles.find((b) => b.active)?.active;
  }

  bundleStatuses(): BundleStatus[] {
    return this.bundles.flatMap((b) => (b.plugin ? [b.plugin.status()] : []));
  }

  get logsDecisions(): boolean {
    return this.decisionLogs !== undefined;
  }

  start(): void {
    if (this.statusConfig && !this.reporter) this.reporter = createStatusReporter({ services: this.services, config: this.statusConfig, labels: { ...this.deps.labels }, log: this.deps.log });
    this.startBundles();
    const config = this.decisionLogsConfig;
    if (!config || this.decisionLogs) return;
    this.decisionLogs = createDecisionLogs(config, {
      services: this.services,
      labels: this.deps.labels,
      logger: this.deps.log,
      registry: this.deps.registry,
      console: this.deps.console,
      evaluateMaskDrop: this.deps.evaluateMaskDrop,
      onStatus: () => this.deps.onStatusChange?.(),
      // OPA names the bundle behind each decision (`bundles: {name: {revision}}`).
      bundleName: () => this.bundles.find((b) => b.active)?.config.name,
      ...this.deps.decision,
    });
  }

  private startBundles(): void {
    for (const b of this.bundles) {
      if (b.plugin) continue;
      b.plugin = createBundlePlugin({
        config: b.config,
        services: this.services,
        log: this.deps.log,
        metrics: this.bundleMetrics,
        activate: async (bytes) => {
          const active = await this.loadBundle(b, bytes);
          b.active = active;
          this.deps.onBundlePolicy(this.bundlePolicy);
          return { revision: active.revision };
        },
        onStatus: () => this.deps.onStatusChange?.(),
      });
      b.plugin.start().catch((err: unknown) => this.deps.log.error('bundle loader failed to start', { name: b.config.name, err: err instanceof Error ? err.message : String(err) }));
    }
  }

  /** Verifies (as OPA: when signing is configured or keys exist) and loads; throws to reject the bundle. */
  private async loadBundle(b: ConfiguredBundle, bytes: Uint8Array): Promise<ActivePolicy> {
    const files = unpackBundle(bytes, b.config.name, b.config.sizeLimitBytes);
    await verifyBundle(files, b.config.signing, this.keys);
    return this.deps.loadBundle(files, `bundle ${b.config.name}`);
  }

  /** Sends a status report (when `status` is configured); never waits. */
  reportStatus(snapshot: StatusSnapshot): void {
    this.reporter?.update(snapshot);
  }

  /** The decision logger's upload status, when decisions are uploaded to a service (OPA reports nothing otherwise). */
  decisionLogStatus(): DecisionLogStatus | undefined {
    return this.decisionLogsConfig?.service !== undefined ? this.decisionLogs?.status() : undefined;
  }

  log(record: DecisionRecord): void {
    this.decisionLogs?.log(record);
  }

  states(): Record<string, PluginState> {
    const states: Record<string, PluginState> = {};
    if (this.decisionLogsConfig) states.decision_logs = 'OK';
    // OPA's bundle plugin is OK once every configured bundle has been activated.
    if (this.bundles.length > 0) states.bundle = this.bundles.every((b) => b.active) ? 'OK' : 'NOT_READY';
    return states;
  }

  /** Delivers what was logged (within the grace period) and closes connections. False when decisions were lost. */
  async stop(graceMs: number): Promise<boolean> {
    const logs = this.decisionLogs;
    this.decisionLogs = undefined;
    await Promise.all([...this.bundles.map((b) => b.plugin?.stop()), this.reporter?.stop()]);
    const delivered = logs ? await logs.stop(graceMs) : true;
    await this.services.close();
    return delivered;
  }
}

/**
 * `overlay` over `base`: mappings merge key by key, anything else in `overlay` replaces. This is how an
 * OPAPolicy's agentConfig is applied over the boot configuration (and the boot configuration over a
 * discovered one).
 */
export function mergeConfig(base: Readonly<ConfigDoc>, overlay: Readonly<ConfigDoc>): ConfigDoc {
  const out: ConfigDoc = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const prior = out[key];
    out[key] = isMapping(prior) && isMapping(value) ? mergeConfig(prior, value) : value;
  }
  return out;
}

function isMapping(v: unknown): v is ConfigDoc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
