// kmesh-opa as a library: one entry point, createAgent(). Importing this module opens nothing, reads no
// environment and installs no signal handler; an agent does what its options say, and only once started.
import { PolicyLoadError as EnginePolicyLoadError } from './engine/wasm.js';

export { createAgent } from './library.js';
export type {
  AgentError,
  AgentEvents,
  AgentOptions,
  AgentPorts,
  Decision,
  KmeshOpaAgent,
  PolicyInfo,
  PolicyInput,
  ReadyInfo,
  RegoModuleInput,
  ReloadResult,
} from './public-types.js';
export type { Settings, SettingOptions } from './config/settings.js';
export { createLogger } from './log.js';
export type { Logger, LogLevel, LogSink } from './log.js';
export { DEFAULT_POLICY, VERSION } from './package-info.js';

// Errors createAgent(), start(), setPolicy() and reload() reject with; each message is one line.
export { SettingsError } from './config/settings.js';
export { ConfigError } from './config/opa-config.js';
export { ServiceConfigError } from './services/config.js';
export { DecisionLogsConfigError } from './decisionlog/config.js';
export { CompileError } from './engine/compile.js';

/**
 * A policy that cannot be loaded: not a bundle or module, no such entrypoint, a builtin kmesh-opa does
 * not implement. Typed as a plain Error class: the engine's own declarations are not shipped to callers.
 */
export const PolicyLoadError: new (message: string) => Error = EnginePolicyLoadError;
