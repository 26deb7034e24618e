// OPA discovery for a running agent: the `discovery` section of the base configuration (boot, with an
// OPAPolicy's agentConfig over it) names a bundle that is downloaded like any other; each new revision is
// evaluated to a configuration and handed to the agent, which merges it under its base configuration
// (the base wins) and builds the plugins it asks for. A discovered configuration that cannot be used is
// rejected like a bad bundle: the running configuration stays.
import { resolve } from 'node:path';
import type { Registry } from 'prom-client';
import { DEFAULT_SIZE_LIMIT_BYTES, type BundleConfig } from './bundles/config.js';
import { discoveredConfigOf, parseDiscoveryConfig, type DiscoveryConfig, type DiscoveryEngine } from './bundles/discovery.js';
import { parseKeys } from './bundles/keys.js';
import { unpackBundle } from './bundles/download.js';
import { bundleManifest } from './engine/bundle.js';
import { createBundleMetrics } from './bundles/metrics.js';
import { createBundlePlugin, type BundlePlugin, type BundleStatus } from './bundles/plugin.js';
import type { Logger } from './log.js';
import type { ConfigDoc } from './plugins.js';
import { createServiceClients, parseServices, type ServiceClients } from './services/index.js';

export interface DiscoveryDeps {
  log: Logger;
  registry: Registry;
  engine: DiscoveryEngine;
  /**
   * Merges `discovered` under the agent's current base configuration (which an OPAPolicy may have changed
   * since this discovery started) and swaps in its plugins; throws (rejecting the revision) when it is invalid.
   */
  apply(discovered: ConfigDoc): Promise<void>;
  onStatusChange?(): void;
}

export class Discovery {
  private readonly services: ServiceClients;
  private readonly config: DiscoveryConfig;
  private plugin: BundlePlugin | undefined;

  /** Undefined when `base` has no discovery section; throws with OPA's text when it is invalid. Opens nothing. */
  static fromConfig(base: Readonly<ConfigDoc>, deps: DiscoveryDeps): Discovery | undefined {
    if (base.discovery === undefined || base.discovery === null) return undefined;
    return new Discovery(base, deps);
  }

  private constructor(
    private readonly base: Readonly<ConfigDoc>,
    private readonly deps: DiscoveryDeps,
  ) {
    const services = parseServices(base.services);
    const keys = parseKeys(base.keys);
    this.config = parseDiscoveryConfig(base.discovery, services.map((s) => s.name), keys)!;
    this.services = createServiceClients(services, { logger: deps.log });
    this.deps = { ...deps, engine: { ...deps.engine, keys } };
  }

  /** Whether `other` would download the same discovery bundle from the same services. */
  sameSource(other: Readonly<ConfigDoc>): boolean {
    return ['discovery', 'services', 'keys', 'persistence_directory'].every((k) => JSON.stringify(this.base[k]) === JSON.stringify(other[k]));
  }

  start(): void {
    if (this.plugin) return;
    this.plugin = createBundlePlugin({
      config: this.bundleConfig(),
      services: this.services,
      log: this.deps.log,
      metrics: createBundleMetrics(this.deps.registry),
      activate: (bytes) => this.activate(bytes),
      onStatus: () => this.deps.onStatusChange?.(),
    });
    this.plugin.start().catch((err: unknown) => this.deps.log.error('discovery failed to start', { err: err instanceof Error ? err.message : String(err) }));
  }

  ready(): boolean {
    return this.plugin?.ready() ?? false;
  }

  status(): BundleStatus | undefined {
    return this.plugin?.status();
  }

  async stop(): Promise<void> {
    await this.plugin?.stop();
    await this.services.close();
  }

  /** Evaluates the discovery bundle and lets the agent apply it. */
  private async activate(bytes: Uint8Array): Promise<{ revision: string }> {
    const files = unpackBundle(bytes, 'discovery', DEFAULT_SIZE_LIMIT_BYTES);
    const revision = bundleManifest(files).revision ?? '';
    await this.deps.apply(await discoveredConfigOf(files, this.config, this.deps.engine));
    return { revision };
  }

  private bundleConfig(): BundleConfig {
    const dir = typeof this.base.persistence_directory === 'string' ? this.base.persistence_directory : '.opa';
    return {
      name: this.config.name ?? 'discovery',
      service: this.config.service,
      resource: this.config.resource,
      trigger: this.config.trigger,
      polling: this.config.polling,
      persist: this.config.persist,
      persistDirectory: resolve(dir),
      sizeLimitBytes: DEFAULT_SIZE_LIMIT_BYTES,
      ignoredKeys: [],
    };
  }
}
