// The agent: owns one policy slot, the check path and the listeners. Everything that changes what is
// enforced ends in setPolicy(), one assignment that the next check reads. This is the engine room; the
// library's face (createAgent, events, supervision) is library.ts.
import { randomUUID } from 'node:crypto';
import { agentFailure, createChecker, type CheckSettings, type CheckState, type DecisionRecord } from './authz/check.js';
import type { ApiVersion } from './authz/types.js';
import type { Settings } from './config/settings.js';
import { defaultCacheDir, findCompiler } from './engine/compile.js';
import { loadBundleFiles, loadPolicyBytes, loadPolicyFiles, loadRego, type ActivePolicy, type EngineOptions } from './engine/load.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type AgentMetrics } from './metrics.js';
import type { ConsoleSink } from './decisionlog/index.js';
import { VERSION } from './package-info.js';
import type { AgentPorts, PolicyInput, ReadyInfo } from './public-types.js';
import type { ApiDecision, ApiDeps, PluginState, Probe } from './server/api.js';
import { createDiagnosticsHandler } from './server/diagnostics.js';
import { startGrpcServer, type RunningGrpcServer } from './server/grpc.js';
import { listenHttp } from './server/http.js';
import { createRestHandler } from './server/rest.js';
import { startResources, type ResourcesRuntime } from './resources/runtime.js';
import { mergeDiscovered } from './bundles/discovery.js';
import { statusDocument, type StatusSnapshot } from './bundles/status.js';
import { Discovery } from './discovery.js';
import { mergeConfig, OpaPlugins, type ConfigDoc } from './plugins.js';

type Listener = { port: number; close(graceMs: number): Promise<void> };

export interface AgentDeps {
  env?: NodeJS.ProcessEnv;
  /** The effective OPA configuration (config file + overrides); sections are read by the agent's parts. */
  opaConfig?: Record<string, unknown>;
  logger?: Logger;
  /** Clock for time.now_ns (tests). */
  now?: () => bigint;
  onDecision?: (record: DecisionRecord) => void;
  /** A check failed unexpectedly (a bug); it was still answered, by onAgentFailure. */
  onError?: (err: unknown) => void;
  /** Once, when the listeners are open and a policy is active. */
  onReady?: (info: ReadyInfo) => void;
  /** Where console decision logs go (default stdout). */
  console?: ConsoleSink;
  /** Data directory when none is configured (the CLI's ~/.local/state/kmesh-opa); without it nothing outlives the run. */
  defaultDataDir?: string;
}

/**
 * Settings a reload applies to the running agent. The others (listener addresses, message sizes, log
 * level, the decision path that decision logs report, ...) are read once at start and need a restart.
 */
const LIVE_SETTINGS: ReadonlySet<keyof Settings> = new Set<keyof Settings>([
  'configPath',
  'configOverrides',
  'policy',
  'data',
  'statusOnError',
  'onAgentFailure',
  'requestBodyMaxSize',
  'requestBodySendRaw',
  'regoVersion',
  'dryRun',
  'skipRequestBodyParse',
  'wasmMaxMemoryMb',
  'cacheDir',
  'compiler',
  'shutdownGraceSeconds',
]);

/** A reload's effect: the settings to run with (restart-only ones keep their running values) and what was left for a restart. */
export interface SettingsPlan {
  settings: Settings;
  restartNeeded: string[];
}

/**
 * Where an active policy came from. The agent enforces the highest layer present: a bundle from a
 * management server over an OPAPolicy resource's policies over the boot policy (files, the embedded
 * default, or what a library caller set); removing a layer falls back to the one below.
 */
export type PolicyLayer = 'boot' | 'resource' | 'bundle';
const LAYER_ORDER: readonly PolicyLayer[] = ['bundle', 'resource', 'boot'];

/** An OPAPolicy's authConfig: each key given replaces the boot setting while the policy applies. */
export interface AuthOverlay {
  statusOnError?: number;
  onAgentFailure?: 'allow' | 'deny';
  maxSize?: number;
  sendRawBody?: boolean;
}

export class Agent {
  readonly metrics: AgentMetrics;
  readonly log: Logger;
  private readonly state: CheckState;
  /** OPA labels: a unique id per agent, the version, and the configured labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** The OPA configuration the agent started with (file + overrides). */
  readonly bootConfig: Readonly<ConfigDoc>;
  private agentConfig: Readonly<ConfigDoc> | undefined;
  private plugins: OpaPlugins;
  private pluginsStarted = false;
  private discovery: Discovery | undefined;
  /** The last configuration discovery produced (before merging), kept across agentConfig changes. */
  private discovered: ConfigDoc | undefined;
  private readonly layers: Partial<Record<PolicyLayer, ActivePolicy>> = {};
  private authOverlay: AuthOverlay = {};
  private resources: ResourcesRuntime | undefined;
  private grpc: RunningGrpcServer | undefined;
  private http: { rest?: Listener; diagnostics?: Listener } = {};
  private stopping = false;
  private ports: AgentPorts | undefined;
  private readyReported = false;
  private current: Settings;

  /** Throws on an invalid services or decision_logs section (one line naming the key). */
  constructor(
    settings: Settings,
    private readonly deps: AgentDeps = {},
  ) {
    this.current = settings;
    this.log = deps.logger ?? createLogger(settings.logLevel);
    this.metrics = createMetrics({ buckets: settings.grpcRequestDurationBuckets });
    this.state = { policy: undefined, settings: checkSettings(settings, this.authOverlay) };
    this.bootConfig = deps.opaConfig ?? {};
    const configured = (this.bootConfig.labels ?? {}) as Record<string, string>;
    this.labels = { ...configured, id: randomUUID(), version: VERSION };
    this.plugins = this.buildPlugins(this.bootConfig);
    this.discovery = this.buildDiscovery(this.bootConfig);
  }

  /** The effective OPA configuration: the boot configuration with the active OPAPolicy's agentConfig over it. */
  get opaConfig(): Readonly<ConfigDoc> {
    return this.plugins.config;
  }

  get settings(): Settings {
    return this.current;
  }

  get engineOptions(): EngineOptions {
    return this.engineOptionsFor(this.current);
  }

  private engineOptionsFor(settings: Settings): EngineOptions {
    const env = this.deps.env ?? {};
    return {
      decision: settings.query || settings.path,
      maxMemoryPages: settings.wasmMaxMemoryMb * 16,
      regoVersion: settings.regoVersion,
      compiler: settings.compiler ?? findCompiler(env),
      cacheDir: settings.cacheDir ?? defaultCacheDir(env),
      ...(this.deps.now ? { now: this.deps.now } : {}),
    };
  }

  /** The policy checks are decided by now, if any. */
  get policy(): ActivePolicy | undefined {
    return this.state.policy;
  }

  /** Activates a loaded boot policy (see PolicyLayer). */
  setPolicy(active: ActivePolicy): void {
    this.setPolicyLayer('boot', active);
  }

  /**
   * Sets (or, with undefined, removes) one layer's policy and enforces the highest layer present: the
   * next check uses it, checks already running finish on the old one.
   */
  setPolicyLayer(layer: PolicyLayer, active: ActivePolicy | undefined): void {
    if (active) this.layers[layer] = active;
    else delete this.layers[layer];
    const top = LAYER_ORDER.map((l) => this.layers[l]).find((p) => p !== undefined);
    if (top === this.state.policy) return;
    if (!top) {
      this.state.policy = undefined;
      this.grpc?.setServing(false);
      this.log.warn('no policy to enforce; checks are answered by onAgentFailure');
      return;
    }
    this.activate(top, LAYER_ORDER.find((l) => this.layers[l] === top)!);
  }

  /** The layer whose policy is enforced. */
  get policyLayer(): PolicyLayer | undefined {
    return LAYER_ORDER.find((l) => this.layers[l] !== undefined && this.layers[l] === this.state.policy);
  }

  private activate(active: ActivePolicy, layer: PolicyLayer): void {
    this.state.policy = active;
    if (!this.stopping) this.grpc?.setServing(true);
    this.metrics.countPolicyLoad('success');
    this.metrics.setPolicyRevision(active.revision);
    this.log.info('policy activated', {
      layer,
      origin: active.origin,
      revision: active.revision,
      entrypoint: active.policy.entrypoint,
      ...(active.regoVersion ? { rego_version: active.regoVersion } : {}),
      host_builtins: active.policy.hostBuiltins,
    });
    this.reportReady();
    this.reportStatus();
  }

  /** Once: listeners open and a policy active. One log line, then the supervisor's hooks. */
  private reportReady(): void {
    const policy = this.state.policy;
    if (this.readyReported || this.stopping || !this.ports || !policy) return;
    this.readyReported = true;
    const info: ReadyInfo = { ports: this.ports, revision: policy.revision };
    const { dataplaneMesh, dataplaneName } = this.current;
    // Who is ready, too: kuma-dp's data plane identity (its Dataplane resource) and this version.
    this.log.info('ready', { ...info, version: VERSION, ...(dataplaneName === undefined ? {} : { dataplane: { mesh: dataplaneMesh, name: dataplaneName } }) });
    this.deps.onReady?.(info);
  }

  /** Loads a policy (without activating it) under `settings`' decision path and limits. */
  async loadPolicy(input: PolicyInput, settings: Settings = this.current): Promise<ActivePolicy> {
    const options = this.engineOptionsFor(settings);
    return this.countingFailures(() => {
      if ('files' in input) return loadPolicyFiles({ paths: [...input.files], ...(input.dataFile ? { dataPath: input.dataFile } : {}) }, options);
      if ('rego' in input) {
        const modules = typeof input.rego === 'string' ? [{ name: 'policy.rego', source: input.rego }] : input.rego.map((m) => ({ name: m.name, source: m.source }));
        return loadRego(modules, options, input.origin ?? modules.map((m) => m.name).join(','));
      }
      return loadPolicyBytes(input.bundle, options, input.origin ?? 'bundle', input.data);
    });
  }

  /** Every load that fails, whatever its source, counts in kmesh_opa_policy_loads_total{outcome="failure"}. */
  private async countingFailures(load: () => ActivePolicy | Promise<ActivePolicy>): Promise<ActivePolicy> {
    try {
      return await load();
    } catch (err) {
      this.metrics.countPolicyLoad('failure');
      throw err;
    }
  }

  /** What applying reloaded settings (and OPA configuration) would do; nothing changes yet. */
  planSettings(next: Settings, opaConfig: Readonly<Record<string, unknown>>): SettingsPlan {
    const settings: Settings = { ...next };
    const restartNeeded: string[] = [];
    for (const key of Object.keys(next) as (keyof Settings)[]) {
      if (LIVE_SETTINGS.has(key) || sameJson(next[key], this.current[key])) continue;
      restartNeeded.push(key);
      keepValue(settings, this.current, key);
    }
    // Sections other than plugins (whose keys are settings) configure parts built once: services, decision logs, labels.
    for (const key of new Set([...Object.keys(this.bootConfig), ...Object.keys(opaConfig)])) {
      if (key !== 'plugins' && !sameJson(this.bootConfig[key], opaConfig[key])) restartNeeded.push(key);
    }
    return { settings, restartNeeded };
  }

  /** Swaps the settings checks read (one assignment, as a policy swap). */
  applySettings(settings: Settings): void {
    this.current = settings;
    this.state.settings = checkSettings(settings, this.authOverlay);
  }

  /** Replaces the OPAPolicy's authConfig overlay (empty: the boot settings again), for the next check. */
  applyAuthOverlay(overlay: AuthOverlay): void {
    this.authOverlay = overlay;
    this.state.settings = checkSettings(this.current, overlay);
  }

  /**
   * Applies an OPAPolicy's agentConfig over the boot configuration (undefined: back to the boot
   * configuration). The new services and decision logs are built first, so an invalid document throws
   * and changes nothing; the old ones then deliver what they hold and close.
   */
  async applyAgentConfig(agentConfig: Readonly<ConfigDoc> | undefined): Promise<void> {
    if (sameJson(agentConfig, this.agentConfig)) return;
    const base = this.baseConfig(agentConfig);
    const keepDiscovery = this.discovery?.sameSource(base) ?? base.discovery === undefined;
    const discovered = keepDiscovery ? this.discovered : undefined;
    // Everything is built (and so checked) before anything changes.
    const next = this.buildPlugins(discovered ? mergeDiscovered({ ...base }, discovered).config : base);
    const discovery = keepDiscovery ? this.discovery : this.buildDiscovery(base);
    this.agentConfig = agentConfig;
    if (!keepDiscovery) {
      const old = this.discovery;
      this.discovery = discovery;
      this.discovered = undefined;
      await old?.stop();
      if (this.pluginsStarted) discovery?.start();
    }
    await this.swapPlugins(next);
  }

  /** Checks a document as applyAgentConfig would, without applying it; throws naming the bad key. */
  validateAgentConfig(agentConfig: Readonly<ConfigDoc>): void {
    const base = mergeConfig(this.bootConfig, agentConfig);
    void this.buildPlugins(base);
    void this.buildDiscovery(base);
  }

  private async swapPlugins(next: OpaPlugins): Promise<void> {
    const previous = this.plugins;
    next.inherit(previous);
    this.plugins = next;
    this.setPolicyLayer('bundle', next.bundlePolicy);
    if (this.pluginsStarted) next.start();
    this.log.info('OPA configuration applied', { agent_config: this.agentConfig !== undefined, discovered: this.discovered !== undefined, sections: Object.keys(next.config) });
    this.reportStatus();
    if (!(await previous.stop(this.settings.shutdownGraceSeconds * 1000))) this.log.warn('decision logs of the previous configuration were not all delivered');
  }

  /** The boot configuration with an OPAPolicy's agentConfig over it. */
  private baseConfig(agentConfig: Readonly<ConfigDoc> | undefined): Readonly<ConfigDoc> {
    return agentConfig ? mergeConfig(this.bootConfig, agentConfig) : this.bootConfig;
  }

  private buildDiscovery(base: Readonly<ConfigDoc>): Discovery | undefined {
    const engine = this.engineOptions;
    const discovery = Discovery.fromConfig(base, {
      log: this.log,
      registry: this.metrics.registry,
      engine: { cacheDir: engine.cacheDir, maxMemoryPages: engine.maxMemoryPages, ...(engine.compiler ? { compiler: engine.compiler } : {}) },
      apply: (discovered) => this.applyDiscovered(discovery, discovered),
      onStatusChange: () => this.reportStatus(),
    });
    return discovery;
  }

  /**
   * A discovered configuration, merged under the base in force now: a discovery kept across an agentConfig
   * change must not bring back the base it started with.
   */
  private async applyDiscovered(from: Discovery | undefined, discovered: ConfigDoc): Promise<void> {
    // A replaced discovery's late download must not undo the configuration that replaced it.
    if (from !== this.discovery) throw new Error('discovery was replaced by a new configuration');
    const { config, overriddenKeys } = mergeDiscovered({ ...this.baseConfig(this.agentConfig) }, discovered);
    if (overriddenKeys.length > 0) this.log.warn(`Keys in the discovered configuration overridden by boot configuration: ${overriddenKeys.join(', ')}`, { plugin: 'discovery' });
    const next = this.buildPlugins(config);
    this.discovered = discovered;
    await this.swapPlugins(next);
  }

  /** OPA's status report, sent on every change when `status` is configured. */
  private reportStatus(): void {
    this.plugins.reportStatus(this.statusSnapshot());
  }

  private statusSnapshot(): StatusSnapshot {
    const discovery = this.discovery?.status();
    const decisionLogs = this.plugins.decisionLogStatus();
    return {
      bundles: Object.fromEntries(this.plugins.bundleStatuses().map((b) => [b.name, b])),
      ...(discovery ? { discovery } : {}),
      ...(decisionLogs ? { decisionLogs } : {}),
      plugins: Object.fromEntries(Object.entries(this.pluginStates()).map(([name, state]) => [name, { state }])),
    };
  }

  private buildPlugins(config: Readonly<ConfigDoc>): OpaPlugins {
    const decision = this.current.query || this.current.path;
    return new OpaPlugins(config, {
      labels: this.labels,
      log: this.log,
      registry: this.metrics.registry,
      // The issue asks for stdout, keeping decisions apart from the agent's own log lines on stderr
      // (OPA itself writes both to stderr).
      console: this.deps.console ?? process.stdout,
      evaluateMaskDrop: (path, event) => this.state.policy?.policy.evaluatePath(path, event).result,
      decision: this.current.query ? { query: decision } : { path: decision },
      loadBundle: (files, origin) => this.countingFailures(() => loadBundleFiles(files, this.engineOptions, origin)),
      // Only the set in force may change what is enforced: a replaced set's late download is ignored.
      onBundlePolicy: (active) => {
        if (this.plugins?.config === config) this.setPolicyLayer('bundle', active);
      },
      onStatusChange: () => this.reportStatus(),
    });
  }

  /** Opens the listeners (ext_authz gRPC, REST API, diagnostics) and starts decision logging. */
  async start(): Promise<AgentPorts> {
    this.plugins.start();
    this.discovery?.start();
    this.pluginsStarted = true;
    // Before any listener: the OPAPolicy selecting this data plane decides the very first check.
    this.resources = await startResources(this, this.deps.defaultDataDir, this.log);
    const onDecision = this.deps.onDecision;
    const check = createChecker({
      state: this.state,
      metrics: this.metrics,
      log: this.log,
      onDecision: (record: DecisionRecord) => {
        this.plugins.log(record);
        onDecision?.(record);
      },
    });
    this.grpc = await startGrpcServer({
      address: this.settings.extAuthzAddr,
      maxRecvMsgSize: this.settings.grpcMaxRecvMsgSize,
      maxSendMsgSize: this.settings.grpcMaxSendMsgSize,
      check,
      enableReflection: this.settings.enableReflection,
      onHandlerError: (err: unknown, version: ApiVersion) => {
        this.metrics.countError('internal_error');
        this.metrics.countDecision('error');
        this.log.error('check failed unexpectedly', { err: err instanceof Error ? err.stack : String(err), version });
        this.deps.onError?.(err);
        return agentFailure(this.state.settings.authConfig, 'internal-error');
      },
    });
    if (this.state.policy) this.grpc.setServing(true);
    this.log.info('ext_authz gRPC server listening', { addr: this.settings.extAuthzAddr, port: this.grpc.port });
    const api = this.apiDeps();
    this.http.rest = await listenHttp(this.settings.opaAddr, createRestHandler(api, this.resources.routes), this.log, 'REST API');
    this.log.info('REST API listening', { addr: this.settings.opaAddr, port: this.http.rest.port });
    this.http.diagnostics = await listenHttp(this.settings.diagnosticAddr, createDiagnosticsHandler(api), this.log, 'diagnostics');
    this.log.info('diagnostics listening', { addr: this.settings.diagnosticAddr, port: this.http.diagnostics.port });
    this.ports = { grpc: this.grpc.port, rest: this.http.rest.port, diagnostics: this.http.diagnostics.port };
    this.reportReady();
    return this.ports;
  }

  private apiDeps(): ApiDeps {
    return {
      evaluate: (path, input) => this.state.policy?.policy.evaluatePath(path, input) ?? { covered: false, result: undefined },
      policies: () => (this.state.policy?.modules ?? []).map((m) => ({ id: m.name, raw: m.source })),
      config: () => ({ ...this.opaConfig, labels: this.labels, default_decision: '/system/main', default_authorization_decision: '/system/authz/allow' }),
      plugins: () => this.pluginStates(),
      status: () => this.statusReport(),
      live: () => (this.stopping ? { ok: false, error: 'shutting down' } : { ok: true }),
      ready: () => this.readiness(),
      registry: this.metrics.registry,
      log: this.log,
      decisionLog: (d: ApiDecision) => this.logApiDecision(d),
      logsDecisions: () => this.plugins.logsDecisions,
    };
  }

  private logApiDecision(d: ApiDecision): void {
    this.plugins.log({
      decisionId: d.decisionId,
      path: d.path,
      input: d.input as Record<string, unknown> | undefined,
      result: d.result,
      ...(d.error ? { error: { reason: d.error.code, message: d.error.message } } : {}),
      allowed: false,
      revision: this.state.policy?.revision,
      durationSeconds: (d.metrics.timer_server_handler_ns ?? 0) / 1e9,
    });
  }

  /** GET /v1/status: OPA's status document, plus which OPAPolicy is in force and which layer decides. */
  private statusReport(): Record<string, unknown> {
    const opaPolicy = this.resources?.status();
    return {
      bundles: {},
      ...statusDocument(this.statusSnapshot(), this.labels),
      policy: { layer: this.policyLayer ?? null, revision: this.state.policy?.revision ?? null, origin: this.state.policy?.origin ?? null },
      opa_policy: opaPolicy ?? null,
      ...(this.resources?.identity ? { dataplane: { mesh: this.resources.identity.mesh, tags: this.resources.identity.tagSets } } : {}),
    };
  }

  private pluginStates(): Record<string, PluginState> {
    return {
      envoy_ext_authz_grpc: this.state.policy && this.ports ? 'OK' : 'NOT_READY',
      ...(this.discovery ? { discovery: this.discovery.ready() ? 'OK' : 'NOT_READY' } : {}),
      ...this.plugins.states(),
    } satisfies Record<string, PluginState>;
  }

  private readiness(): Probe {
    if (this.stopping) return { ok: false, error: 'shutting down' };
    if (!this.state.policy) return { ok: false, error: 'no policy loaded' };
    return { ok: true };
  }

  /** Stops accepting checks, lets in-flight ones finish within the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    const grpc = this.grpc;
    this.grpc = undefined;
    // Health turns NOT_SERVING before the listener closes, so a prober sees the shutdown coming.
    grpc?.setServing(false);
    const graceMs = this.settings.shutdownGraceSeconds * 1000;
    if (grpc) await grpc.close(graceMs);
    // Every check has been answered: its decision is queued, and now written or uploaded.
    await this.discovery?.stop();
    if (!(await this.plugins.stop(graceMs))) this.log.warn('decision logs were not all delivered before shutdown');
    const { rest, diagnostics } = this.http;
    this.http = {};
    await Promise.all([rest?.close(graceMs), diagnostics?.close(graceMs)]);
    await this.resources?.close();
    this.resources = undefined;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function keepValue<K extends keyof Settings>(to: Settings, from: Settings, key: K): void {
  to[key] = from[key];
}

function checkSettings(s: Settings, overlay: AuthOverlay): CheckSettings {
  return {
    authConfig: {
      statusOnError: overlay.statusOnError ?? s.statusOnError,
      onAgentFailure: overlay.onAgentFailure ?? s.onAgentFailure,
      maxSize: overlay.maxSize ?? s.requestBodyMaxSize,
      sendRawBody: overlay.sendRawBody ?? s.requestBodySendRaw,
    },
    dryRun: s.dryRun,
    skipRequestBodyParse: s.skipRequestBodyParse,
  };
}
