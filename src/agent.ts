// The agent: owns one policy slot, the check path and the listeners. Everything that changes what is
// enforced ends in setPolicy(), one assignment that the next check reads.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentFailure, createChecker, type CheckSettings, type CheckState, type DecisionRecord } from './authz/check.js';
import type { ApiVersion } from './authz/types.js';
import type { Settings } from './config/settings.js';
import { defaultCacheDir, findCompiler } from './engine/compile.js';
import { loadPolicyFiles, type ActivePolicy, type EngineOptions } from './engine/load.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type AgentMetrics } from './metrics.js';
import { createDecisionLogs, parseDecisionLogsConfig, type DecisionLogs, type DecisionLogsConfig } from './decisionlog/index.js';
import type { ApiDecision, ApiDeps, PluginState, Probe } from './server/api.js';
import { createDiagnosticsHandler } from './server/diagnostics.js';
import { startGrpcServer, type RunningGrpcServer } from './server/grpc.js';
import { listenHttp } from './server/http.js';
import { createRestHandler } from './server/rest.js';
import { createServiceClients, parseServices, type ServiceClients } from './services/index.js';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The seed page's JWT example, enforced when no policy is given. */
export const DEFAULT_POLICY = join(PACKAGE_ROOT, 'policies', 'default.rego');
export const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

type Listener = { port: number; close(graceMs: number): Promise<void> };

export interface AgentDeps {
  env?: NodeJS.ProcessEnv;
  /** The effective OPA configuration (config file + overrides); sections are read by the agent's parts. */
  opaConfig?: Record<string, unknown>;
  logger?: Logger;
  /** Clock for time.now_ns (tests). */
  now?: () => bigint;
  onDecision?: (record: DecisionRecord) => void;
}

export class Agent {
  readonly metrics: AgentMetrics;
  readonly log: Logger;
  private readonly state: CheckState;
  /** OPA labels: a unique id per agent, the version, and the configured labels. */
  readonly labels: Readonly<Record<string, string>>;
  readonly opaConfig: Readonly<Record<string, unknown>>;
  private readonly services: ServiceClients;
  private readonly decisionLogsConfig: DecisionLogsConfig | undefined;
  private decisionLogs: DecisionLogs | undefined;
  private grpc: RunningGrpcServer | undefined;
  private http: { rest?: Listener; diagnostics?: Listener } = {};
  private stopping = false;
  private listening = false;

  /** Throws on an invalid services or decision_logs section (one line naming the key). */
  constructor(
    readonly settings: Settings,
    private readonly deps: AgentDeps = {},
  ) {
    this.log = deps.logger ?? createLogger(settings.logLevel);
    this.metrics = createMetrics({ buckets: settings.grpcRequestDurationBuckets });
    this.state = { policy: undefined, settings: checkSettings(settings) };
    this.opaConfig = deps.opaConfig ?? {};
    const configured = (this.opaConfig.labels ?? {}) as Record<string, string>;
    this.labels = { ...configured, id: randomUUID(), version: VERSION };
    this.services = createServiceClients(parseServices(this.opaConfig.services), { logger: this.log });
    this.decisionLogsConfig = parseDecisionLogsConfig(this.opaConfig.decision_logs, this.services.names);
  }

  get engineOptions(): EngineOptions {
    const env = this.deps.env ?? {};
    return {
      decision: this.settings.query || this.settings.path,
      maxMemoryPages: this.settings.wasmMaxMemoryMb * 16,
      regoVersion: this.settings.regoVersion,
      compiler: findCompiler(env),
      cacheDir: this.settings.cacheDir ?? defaultCacheDir(env),
      ...(this.deps.now ? { now: this.deps.now } : {}),
    };
  }

  /** The policy checks are decided by now, if any. */
  get policy(): ActivePolicy | undefined {
    return this.state.policy;
  }

  /** Activates a loaded policy: the next check uses it, checks already running finish on the old one. */
  setPolicy(active: ActivePolicy): void {
    this.state.policy = active;
    if (!this.stopping) this.grpc?.setServing(true);
    this.metrics.countPolicyLoad('success');
    this.log.info('policy activated', {
      origin: active.origin,
      revision: active.revision,
      entrypoint: active.policy.entrypoint,
      ...(active.regoVersion ? { rego_version: active.regoVersion } : {}),
      host_builtins: active.policy.hostBuiltins,
    });
  }

  /** Loads the configured policy files (or the embedded default) and activates them. */
  async loadConfiguredPolicy(extraPaths: string[] = []): Promise<ActivePolicy> {
    const paths = [...this.settings.policy, ...extraPaths];
    const source = paths.length > 0 ? { paths, ...(this.settings.data ? { dataPath: this.settings.data } : {}) } : { paths: [DEFAULT_POLICY] };
    try {
      const active = await loadPolicyFiles(source, this.engineOptions);
      this.setPolicy(active);
      return active;
    } catch (err) {
      this.metrics.countPolicyLoad('failure');
      throw err;
    }
  }

  /** Opens the listeners (ext_authz gRPC, REST API, diagnostics) and starts decision logging. */
  async start(): Promise<{ grpc: number; rest: number; diagnostics: number }> {
    this.decisionLogs = this.createDecisionLogs();
    const logs = this.decisionLogs;
    const onDecision = this.deps.onDecision;
    const check = createChecker({
      state: this.state,
      metrics: this.metrics,
      log: this.log,
      ...(logs || onDecision
        ? {
            onDecision: (record: DecisionRecord) => {
              logs?.log(record);
              onDecision?.(record);
            },
          }
        : {}),
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
        return agentFailure(this.state.settings.authConfig, 'internal-error');
      },
    });
    if (this.state.policy) this.grpc.setServing(true);
    this.log.info('ext_authz gRPC server listening', { addr: this.settings.extAuthzAddr, port: this.grpc.port });
    const api = this.apiDeps();
    this.http.rest = await listenHttp(this.settings.opaAddr, createRestHandler(api), this.log, 'REST API');
    this.log.info('REST API listening', { addr: this.settings.opaAddr, port: this.http.rest.port });
    this.http.diagnostics = await listenHttp(this.settings.diagnosticAddr, createDiagnosticsHandler(api), this.log, 'diagnostics');
    this.log.info('diagnostics listening', { addr: this.settings.diagnosticAddr, port: this.http.diagnostics.port });
    this.listening = true;
    if (this.state.policy) this.log.info('ready', { revision: this.state.policy.revision });
    return { grpc: this.grpc.port, rest: this.http.rest.port, diagnostics: this.http.diagnostics.port };
  }

  private createDecisionLogs(): DecisionLogs | undefined {
    const config = this.decisionLogsConfig;
    if (!config) return undefined;
    const decision = this.settings.query || this.settings.path;
    return createDecisionLogs(config, {
      services: this.services,
      labels: this.labels,
      logger: this.log,
      registry: this.metrics.registry,
      // The issue asks for stdout, keeping decisions apart from the agent's own log lines on stderr
      // (OPA itself writes both to stderr).
      console: process.stdout,
      evaluateMaskDrop: (path, event) => this.state.policy?.policy.evaluatePath(path, event).result,
      ...(this.settings.query ? { query: decision } : { path: decision }),
    });
  }

  private apiDeps(): ApiDeps {
    return {
      evaluate: (path, input) => this.state.policy?.policy.evaluatePath(path, input) ?? { covered: false, result: undefined },
      policies: () => (this.state.policy?.modules ?? []).map((m) => ({ id: m.name, raw: m.source })),
      config: () => ({ ...this.opaConfig, labels: this.labels, default_decision: '/system/main', default_authorization_decision: '/system/authz/allow' }),
      plugins: () => this.pluginStates(),
      live: () => (this.stopping ? { ok: false, error: 'shutting down' } : { ok: true }),
      ready: () => this.readiness(),
      registry: this.metrics.registry,
      log: this.log,
      ...(this.decisionLogs ? { decisionLog: (d: ApiDecision) => this.logApiDecision(d) } : {}),
    };
  }

  private logApiDecision(d: ApiDecision): void {
    this.decisionLogs?.log({
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

  private pluginStates(): Record<string, PluginState> {
    const states: Record<string, PluginState> = { envoy_ext_authz_grpc: this.state.policy && this.listening ? 'OK' : 'NOT_READY' };
    if (this.decisionLogsConfig) states.decision_logs = 'OK';
    return states;
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
    const logs = this.decisionLogs;
    this.decisionLogs = undefined;
    if (logs && !(await logs.stop(graceMs))) this.log.warn('decision logs were not all delivered before shutdown');
    const { rest, diagnostics } = this.http;
    this.http = {};
    await Promise.all([rest?.close(graceMs), diagnostics?.close(graceMs)]);
    await this.services.close();
  }
}

function checkSettings(s: Settings): CheckSettings {
  return {
    authConfig: {
      statusOnError: s.statusOnError,
      onAgentFailure: s.onAgentFailure,
      maxSize: s.requestBodyMaxSize,
      sendRawBody: s.requestBodySendRaw,
    },
    dryRun: s.dryRun,
    skipRequestBodyParse: s.skipRequestBodyParse,
  };
}
