// The library's contract: every type a caller of createAgent() sees. Kept apart from the implementation
// so that the shipped declarations reach nothing but settings, logging and prom-client types (the engine's
// declarations need a WebAssembly lib that a consumer's compiler may not have).
import type { Registry } from 'prom-client';
import type { Settings, SettingOptions } from './config/settings.js';
import type { Logger } from './log.js';

/** One Rego module: a file name (shown in compile errors) and its text. */
export interface RegoModuleInput {
  name: string;
  source: string;
}

/**
 * What setPolicy() takes:
 * - `bundle`: the bytes of a bundle built by `opa build -t wasm` (gzipped tar), or of a bare `.wasm`
 *   module with its data document as `data`;
 * - `rego`: Rego source, one module or several, compiled with the opa compiler (the `compiler` setting);
 * - `files`: paths, as `kmesh-opa run` takes them (a bundle, a `.wasm` with `dataFile`, or `.rego` files).
 * Kong Mesh OPAPolicy resources are not an input yet: they arrive with the resources issue, which reads
 * them from the control plane; until then pass their Rego as `rego`.
 */
export type PolicyInput =
  | { bundle: Uint8Array; data?: unknown; origin?: string }
  | { rego: string | readonly RegoModuleInput[]; origin?: string }
  | { files: readonly string[]; dataFile?: string };

/** The policy checks are decided by. */
export interface PolicyInfo {
  /** The bundle's revision (.manifest); '' when there is none (a bare module, Rego compiled here). */
  revision: string;
  /** Where it came from: file paths, or the `origin` given to setPolicy. */
  origin: string;
  /** The decision's entrypoint in the WASM module (envoy/authz/allow). */
  entrypoint: string;
  /** The Rego version the policy was compiled as, when it was compiled here. */
  regoVersion?: 'v0' | 'v1';
  /** Builtins the policy calls on the host (implemented by kmesh-opa with Go OPA's semantics). */
  hostBuiltins: readonly string[];
}

/** Bound ports (useful when an address asked for port 0). */
export interface AgentPorts {
  /** Envoy ext_authz gRPC (`extAuthzAddr`). */
  grpc: number;
  /** OPA REST API (`opaAddr`). */
  rest: number;
  /** Health and metrics (`diagnosticAddr`). */
  diagnostics: number;
}

/** What `ready` resolves to, the `ready` event carries and `--ready-fd` receives (as JSON). */
export interface ReadyInfo {
  ports: AgentPorts;
  /** Revision of the policy being enforced. */
  revision: string;
}

/** One Check answered over ext_authz. Shared with the decision log: treat it as read-only. */
export interface Decision {
  /** Also in the answer's dynamic metadata (`decision_id`) and in the decision log. */
  decisionId: string;
  /** The ext_authz API version the check came in on. */
  version: 'v2' | 'v3';
  /** The input document the policy saw; undefined when the request could not be read. */
  input: Record<string, unknown> | undefined;
  /** The policy's result; undefined when it did not decide. */
  result: unknown;
  /** Set when the agent, not the policy, answered (see the `error` event). */
  error?: { reason: string; message: string };
  allowed: boolean;
  revision: string | undefined;
  durationSeconds: number;
}

/**
 * An `error` event: a check the policy could not decide, answered by onAgentFailure/statusOnError
 * (`reason` as error_counter counts it: envoyauth_eval_error, envoyauth_result_error,
 * request_parse_error, no_policy_loaded), or an unexpected failure of the agent itself (internal_error).
 */
export interface AgentError extends Error {
  reason: string;
  decisionId?: string;
}

/** What `reload()` did. */
export interface ReloadResult {
  /** The policy now enforced (re-read from its files, or re-loaded under the new settings). */
  policy: PolicyInfo | undefined;
  /** Settings and configuration sections that changed but only take effect on a restart (listener addresses, services, ...). */
  restartNeeded: string[];
}

/** Events an agent emits; each agent has its own. */
export interface AgentEvents {
  decision: [decision: Decision];
  /** Only emitted while someone listens: an agent without an `error` listener logs and goes on. */
  error: [error: AgentError];
  ready: [info: ReadyInfo];
  /** stop() has finished: listeners closed, decision logs flushed. */
  close: [];
}

export interface AgentOptions extends SettingOptions {
  /** Flags and policy files, as `kmesh-opa run` takes them; options win over them. */
  args?: readonly string[];
  /**
   * Where KMESH_OPA_*, KUMA_DATAPLANE_* (and PATH, to find opa) are read, below flags. The library reads
   * no environment unless given one: pass `process.env` to behave as the command line does.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Enforced when no policy is configured and none was set before start() (the CLI's embedded default). */
  fallbackPolicy?: PolicyInput;
  /**
   * Data directory (user-token key, resources written through the API) when the `dataDir` setting is
   * not given. Without either, both last for the run only, as with Kuma's default memory store.
   */
  defaultDataDir?: string;
  /** Replaces the JSON lines written to stderr (see createLogger). */
  logger?: Logger;
  /** Where console decision logs (`decision_logs.console`) are written; stdout by default. */
  decisionLogConsole?: { write(text: string): unknown };
}

type Listener<K extends keyof AgentEvents> = (...args: AgentEvents[K]) => void;

/** An agent created by createAgent(). Nothing is opened before start(). */
export interface KmeshOpaAgent {
  /** The effective settings: options > flags > environment > OPA config file > defaults. */
  readonly settings: Readonly<Settings>;
  /** This agent's Prometheus registry (what /metrics serves). */
  readonly registry: Registry;
  readonly log: Logger;
  /** The data plane this agent serves (KUMA_DATAPLANE_MESH/NAME), when named. */
  readonly dataplane: { mesh: string; name: string } | undefined;
  /** The policy enforced now, if any. */
  readonly policy: PolicyInfo | undefined;
  /**
   * Resolves once listeners are open and a policy is active; rejects if start() fails or stop() comes
   * first. Handled internally, so leaving it unobserved is safe.
   */
  readonly ready: Promise<ReadyInfo>;
  /**
   * Loads the configured policy (or `fallbackPolicy`) unless one was set, opens the listeners, and, as
   * settings ask, watches the parent process and reports readiness on `readyFd`.
   */
  start(): Promise<AgentPorts>;
  /** Graceful, as SIGTERM: health turns NOT_SERVING, in-flight checks finish, decision logs flush (each bounded by shutdownGraceSeconds). */
  stop(): Promise<void>;
  /** Loads a policy and swaps it in: checks already running finish on the old one. The old one stays if loading fails. */
  setPolicy(input: PolicyInput): Promise<PolicyInfo>;
  /** As SIGHUP: re-reads the config file (and environment), then re-loads the policy; nothing changes if either fails. */
  reload(): Promise<ReloadResult>;
  on<K extends keyof AgentEvents>(event: K, listener: Listener<K>): this;
  once<K extends keyof AgentEvents>(event: K, listener: Listener<K>): this;
  off<K extends keyof AgentEvents>(event: K, listener: Listener<K>): this;
}
