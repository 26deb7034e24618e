// The agent: owns one policy slot, the check path and the listeners. Everything that changes what is
// enforced ends in setPolicy(), one assignment that the next check reads.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentFailure, createChecker, type CheckSettings, type CheckState, type DecisionRecord } from './authz/check.js';
import type { ApiVersion } from './authz/types.js';
import type { Settings } from './config/settings.js';
import { defaultCacheDir, findCompiler } from './engine/compile.js';
import { loadPolicyFiles, type ActivePolicy, type EngineOptions } from './engine/load.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type AgentMetrics } from './metrics.js';
import { startGrpcServer, type RunningGrpcServer } from './server/grpc.js';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The seed page's JWT example, enforced when no policy is given. */
export const DEFAULT_POLICY = join(PACKAGE_ROOT, 'policies', 'default.rego');

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
  private grpc: RunningGrpcServer | undefined;
  private stopping = false;

  constructor(
    readonly settings: Settings,
    private readonly deps: AgentDeps = {},
  ) {
    this.log = deps.logger ?? createLogger(settings.logLevel);
    this.metrics = createMetrics({ buckets: settings.grpcRequestDurationBuckets });
    this.state = { policy: undefined, settings: checkSettings(settings) };
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

  /** Opens the ext_authz listener. */
  async listen(): Promise<number> {
    const check = createChecker({
      state: this.state,
      metrics: this.metrics,
      log: this.log,
      ...(this.deps.onDecision ? { onDecision: this.deps.onDecision } : {}),
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
    return this.grpc.port;
  }

  /** Stops accepting checks, lets in-flight ones finish within the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    const grpc = this.grpc;
    this.grpc = undefined;
    // Health turns NOT_SERVING before the listener closes, so a prober sees the shutdown coming.
    grpc?.setServing(false);
    if (grpc) await grpc.close(this.settings.shutdownGraceSeconds * 1000);
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
