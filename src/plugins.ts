// The parts the OPA configuration document drives: services, decision logs, bundles, discovery and
// status. They are built together from one effective document, so that a new document (an OPAPolicy's
// agentConfig, a discovered config) replaces all of them at once: the new set is built and checked
// before the old one is stopped, and an invalid document leaves the running set in place.
import type { Registry } from 'prom-client';
import type { DecisionRecord } from './authz/check.js';
import { createDecisionLogs, parseDecisionLogsConfig, type ConsoleSink, type DecisionLogs, type DecisionLogsConfig, type EvaluateMaskDrop } from './decisionlog/index.js';
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
}

export class OpaPlugins {
  readonly services: ServiceClients;
  private readonly decisionLogsConfig: DecisionLogsConfig | undefined;
  private decisionLogs: DecisionLogs | undefined;

  /** Throws on an invalid services or decision_logs section (one line naming the key); opens nothing. */
  constructor(
    readonly config: Readonly<ConfigDoc>,
    private readonly deps: PluginDeps,
  ) {
    this.services = createServiceClients(parseServices(config.services), { logger: deps.log });
    this.decisionLogsConfig = parseDecisionLogsConfig(config.decision_logs, this.services.names);
  }

  get logsDecisions(): boolean {
    return this.decisionLogs !== undefined;
  }

  start(): void {
    const config = this.decisionLogsConfig;
    if (!config || this.decisionLogs) return;
    this.decisionLogs = createDecisionLogs(config, {
      services: this.services,
      labels: this.deps.labels,
      logger: this.deps.log,
      registry: this.deps.registry,
      console: this.deps.console,
      evaluateMaskDrop: this.deps.evaluateMaskDrop,
      ...this.deps.decision,
    });
  }

  log(record: DecisionRecord): void {
    this.decisionLogs?.log(record);
  }

  states(): Record<string, PluginState> {
    return this.decisionLogsConfig ? { decision_logs: 'OK' } : {};
  }

  /** Delivers what was logged (within the grace period) and closes connections. False when decisions were lost. */
  async stop(graceMs: number): Promise<boolean> {
    const logs = this.decisionLogs;
    this.decisionLogs = undefined;
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
