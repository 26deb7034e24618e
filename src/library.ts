// createAgent() and the agent it returns: settings from options (then flags, environment, config file),
// policy in any form, events, readiness, reload and the supervisor's hooks, over the core Agent. The CLI
// is this plus process concerns (argv, process.env, signals, exit codes).
import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import { Agent } from './agent.js';
import type { DecisionRecord } from './authz/check.js';
import { loadConfig, type LoadedConfig } from './config/load.js';
import { settingError, SettingsError, type Origin, type Settings, type SettingOptions } from './config/settings.js';
import type { ActivePolicy } from './engine/load.js';
import type { Logger } from './log.js';
import type {
  AgentError,
  AgentEvents,
  AgentOptions,
  AgentPorts,
  Decision,
  KmeshOpaAgent,
  PolicyInfo,
  PolicyInput,
  ReadyInfo,
  ReloadResult,
} from './public-types.js';
import { isWritableFd, watchParent, writeReadyLine } from './supervision.js';

/**
 * Resolves the settings (options > `args` > `env` > OPA config file > defaults) with the same
 * validation and error texts as the command line, and builds an agent that has opened nothing yet.
 * Rejects with SettingsError, ConfigError, ServiceConfigError or DecisionLogsConfigError (one line each).
 */
export async function createAgent(options: AgentOptions = {}): Promise<KmeshOpaAgent> {
  const { args = [], env = {}, fallbackPolicy, logger, decisionLogConsole, defaultDataDir, ...settingOptions } = options;
  const sources: Sources = { args: [...args], env, settingOptions, fallbackPolicy, logger, decisionLogConsole, defaultDataDir };
  const loaded = await loadConfig(sources.args, sources.env, settingOptions);
  return new LibraryAgent(loaded, sources);
}

interface Sources {
  args: string[];
  env: NodeJS.ProcessEnv;
  settingOptions: SettingOptions;
  fallbackPolicy: PolicyInput | undefined;
  logger: Logger | undefined;
  decisionLogConsole: { write(text: string): unknown } | undefined;
  defaultDataDir: string | undefined;
}

/** What reload() re-loads: the configured policy (re-resolved from the new configuration) or the last one set. */
interface PolicySource {
  input: PolicyInput;
  configured: boolean;
}

const STOPPED = 'kmesh-opa was stopped before it was ready';

class LibraryAgent extends EventEmitter<AgentEvents> implements KmeshOpaAgent {
  readonly ready: Promise<ReadyInfo>;
  private settleReady!: { resolve(info: ReadyInfo): void; reject(err: unknown): void };
  private readonly core: Agent;
  private readonly positional: string[];
  private readonly origins: Record<keyof Settings, Origin>;
  private source: PolicySource | undefined;
  /** Policy loads and reloads run one at a time, in call order, so the last one asked for is the one enforced. */
  private queue: Promise<unknown> = Promise.resolve();
  private starting: Promise<AgentPorts> | undefined;
  private stopping: Promise<void> | undefined;
  private coreStopped: Promise<void> | undefined;
  private unwatchParent: (() => void) | undefined;

  constructor(
    loaded: LoadedConfig,
    private readonly sources: Sources,
  ) {
    super();
    this.ready = new Promise<ReadyInfo>((resolve, reject) => (this.settleReady = { resolve, reject }));
    // Observed here so that an agent nobody awaits the readiness of cannot crash its process.
    this.ready.catch(() => undefined);
    this.positional = loaded.positional;
    this.origins = loaded.origins;
    this.core = new Agent(loaded.settings, {
      env: sources.env,
      opaConfig: loaded.opaConfig,
      ...(sources.logger ? { logger: sources.logger } : {}),
      ...(sources.decisionLogConsole ? { console: sources.decisionLogConsole } : {}),
      ...(sources.defaultDataDir ? { defaultDataDir: sources.defaultDataDir } : {}),
      onDecision: (record) => this.decided(record),
      onError: (err) => this.emitSafely('error', agentError('internal_error', err instanceof Error ? err.message : String(err))),
      onReady: (info) => this.becameReady(info),
    });
  }

  get settings(): Readonly<Settings> {
    return this.core.settings;
  }

  get registry(): Registry {
    return this.core.metrics.registry;
  }

  get log(): Logger {
    return this.core.log;
  }

  get dataplane(): { mesh: string; name: string } | undefined {
    const { dataplaneMesh, dataplaneName } = this.core.settings;
    return dataplaneName === undefined ? undefined : { mesh: dataplaneMesh, name: dataplaneName };
  }

  get policy(): PolicyInfo | undefined {
    const active = this.core.policy;
    return active && policyInfo(active);
  }

  start(): Promise<AgentPorts> {
    this.starting ??= this.open();
    return this.starting;
  }

  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  setPolicy(input: PolicyInput): Promise<PolicyInfo> {
    return this.serially(async () => {
      const active = await this.core.loadPolicy(input);
      this.core.setPolicy(active);
      this.source = { input, configured: false };
      return policyInfo(active);
    });
  }

  reload(): Promise<ReloadResult> {
    return this.serially(async () => {
      const loaded = await loadConfig(this.sources.args, this.sources.env, this.sources.settingOptions);
      const plan = this.core.planSettings(loaded.settings, loaded.opaConfig);
      const source = this.source?.configured === false ? this.source : this.configuredSource(plan.settings, loaded.positional);
      // Load before applying anything: a policy that fails to load leaves the agent as it was.
      const active = source && (await this.core.loadPolicy(source.input, plan.settings));
      this.core.applySettings(plan.settings);
      if (active) {
        this.core.setPolicy(active);
        this.source = source;
      }
      if (plan.restartNeeded.length > 0) this.log.warn('changed settings take effect on restart only', { settings: plan.restartNeeded });
      return { policy: this.policy, restartNeeded: plan.restartNeeded };
    });
  }

  private async open(): Promise<AgentPorts> {
    try {
      const settings = this.core.settings;
      if (this.stopping) throw new Error(STOPPED);
      if (!settings.enabled) throw new SettingsError('kmesh-opa is disabled (enabled is false); not starting');
      if (settings.readyFd !== undefined && !isWritableFd(settings.readyFd)) throw settingError('readyFd', settings.readyFd, this.origins.readyFd);
      await this.serially(() => this.loadConfiguredPolicy());
      if (this.stopping) throw new Error(STOPPED);
      const ports = await this.core.start();
      if (settings.exitWithParent) this.watchParent();
      return ports;
    } catch (err) {
      this.settleReady.reject(err);
      // Whatever opened before the failure is closed: a failed agent holds no port.
      await this.stopCore();
      throw err;
    }
  }

  private async close(): Promise<void> {
    this.unwatchParent?.();
    this.settleReady.reject(new Error(STOPPED));
    await this.starting?.catch(() => undefined);
    await this.stopCore();
    this.emitSafely('close');
  }

  private stopCore(): Promise<void> {
    this.coreStopped ??= this.core.stop();
    return this.coreStopped;
  }

  private async loadConfiguredPolicy(): Promise<void> {
    if (this.core.policy) return;
    const source = this.configuredSource(this.core.settings, this.positional);
    if (!source) return;
    this.core.setPolicy(await this.core.loadPolicy(source.input));
    this.source = source;
  }

  /** Policy files from settings and arguments, else the fallback. */
  private configuredSource(settings: Settings, positional: readonly string[]): PolicySource | undefined {
    const files = [...settings.policy, ...positional];
    if (files.length > 0) return { input: { files, ...(settings.data ? { dataFile: settings.data } : {}) }, configured: true };
    return this.sources.fallbackPolicy && { input: this.sources.fallbackPolicy, configured: true };
  }

  private watchParent(): void {
    this.unwatchParent = watchParent((parent) => {
      this.log.info('parent process exited; shutting down', { parent_pid: parent });
      this.stop().catch((err: unknown) => this.log.error('shutdown failed', { err: err instanceof Error ? err.stack : String(err) }));
    });
    if (!this.unwatchParent) this.log.warn('exit-with-parent: the parent is init, whose exit cannot be noticed; not watching', { parent_pid: process.ppid });
  }

  private becameReady(info: ReadyInfo): void {
    const fd = this.core.settings.readyFd;
    if (fd !== undefined) {
      try {
        writeReadyLine(fd, JSON.stringify({ msg: 'ready', ...info }));
      } catch (err) {
        this.log.warn('cannot write the readiness line', { fd, err: err instanceof Error ? err.message : String(err) });
      }
    }
    this.settleReady.resolve(info);
    this.emitSafely('ready', info);
  }

  private decided(record: DecisionRecord): void {
    if (record.error && this.listenerCount('error') > 0) this.emitSafely('error', agentError(record.error.reason, record.error.message, record.decisionId));
    if (this.listenerCount('decision') > 0) this.emitSafely('decision', toDecision(record));
  }

  /** Emits only to listeners present, and a listener that throws cannot break a check or a shutdown. */
  private emitSafely<K extends keyof AgentEvents>(event: K, ...args: AgentEvents[K]): void {
    if (this.listenerCount(event) === 0) return;
    try {
      (this.emit as (event: K, ...args: AgentEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error(`a "${event}" listener threw`, { err: err instanceof Error ? err.stack : String(err) });
    }
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function policyInfo(active: ActivePolicy): PolicyInfo {
  return {
    revision: active.revision,
    origin: active.origin,
    entrypoint: active.policy.entrypoint,
    ...(active.regoVersion ? { regoVersion: active.regoVersion } : {}),
    hostBuiltins: active.policy.hostBuiltins,
  };
}

function toDecision(record: DecisionRecord): Decision {
  return {
    decisionId: record.decisionId,
    version: record.version ?? 'v3',
    input: record.input,
    result: record.result,
    ...(record.error ? { error: { reason: record.error.reason, message: record.error.message } } : {}),
    allowed: record.allowed,
    revision: record.revision,
    durationSeconds: record.durationSeconds,
  };
}

function agentError(reason: string, message: string, decisionId?: string): AgentError {
  return Object.assign(new Error(message), { name: 'AgentError', reason, ...(decisionId ? { decisionId } : {}) });
}
