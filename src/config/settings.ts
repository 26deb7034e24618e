// Every setting the agent reads, with its flag, environment variable, default and validation, in one
// table. Precedence: flag > environment > default. A bad value stops start-up with one line naming the
// setting, where the value came from and what is allowed.
import { LOG_LEVELS, type LogLevel } from '../log.js';
import { DEFAULT_DURATION_BUCKETS } from '../metrics.js';

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

export interface Settings {
  opaAddr: string;
  configPath: string | undefined;
  diagnosticAddr: string;
  enabled: boolean;
  configOverrides: string[];
  extAuthzAddr: string;
  enableReflection: boolean;
  grpcRequestDurationBuckets: number[];
  policy: string[];
  data: string | undefined;
  path: string;
  query: string;
  statusOnError: number;
  onAgentFailure: 'allow' | 'deny';
  requestBodyMaxSize: number;
  requestBodySendRaw: boolean;
  grpcMaxRecvMsgSize: number;
  grpcMaxSendMsgSize: number;
  regoVersion: 'v0' | 'v1' | 'auto';
  dryRun: boolean;
  skipRequestBodyParse: boolean;
  logLevel: LogLevel;
  wasmMaxMemoryMb: number;
  cacheDir: string | undefined;
  shutdownGraceSeconds: number;
  compiler: string | undefined;
  readyFd: number | undefined;
  exitWithParent: boolean;
  dataplaneMesh: string;
  dataplaneName: string | undefined;
  dataplaneTags: string | undefined;
  dataplaneFile: string | undefined;
  resourcesDir: string | undefined;
  dataDir: string | undefined;
  apiAuthnLocalhostIsAdmin: boolean;
}

/** Settings as a library caller gives them: the table's keys, typed, each optional. */
export type SettingOptions = { [K in keyof Settings]?: Settings[K] };

type Parser<T> = (raw: string) => T;

interface SettingSpec<K extends keyof Settings> {
  key: K;
  flag: string;
  env?: string;
  help: string;
  /** Shown in --help and used when nothing sets the value. */
  default: Settings[K];
  parse: Parser<Settings[K]>;
  /** Flag may be given several times; values accumulate. */
  repeatable?: boolean;
  /** Where the OPA config document (file + overrides) may set it, below flags and environment. */
  configKey?: readonly string[];
  /** What is allowed, for error messages. */
  allowed: string;
}

class InvalidValue extends Error {}

const str: Parser<string> = (raw) => {
  if (raw.trim() === '') throw new InvalidValue();
  return raw.trim();
};

const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on', ''].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new InvalidValue();
};

function int(min: number, max: number): Parser<number> {
  return (raw) => {
    const t = raw.trim();
    if (!/^\d+$/.test(t)) throw new InvalidValue();
    const n = Number(t);
    if (n < min || n > max) throw new InvalidValue();
    return n;
  };
}

function oneOf<T extends string>(...values: T[]): Parser<T> {
  return (raw) => {
    const v = raw.trim() as T;
    if (!values.includes(v)) throw new InvalidValue();
    return v;
  };
}

/** host:port or :port (all interfaces), as the seed's KMESH_OPA_ADDR ":8888". */
export const address: Parser<string> = (raw) => {
  const t = raw.trim();
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(t);
  if (!m || Number(m[2]) > 65535) throw new InvalidValue();
  return m[1] === '' ? `0.0.0.0:${m[2]}` : t;
};

/** Kuma resource names (kuma-dp's KUMA_DATAPLANE_NAME/MESH): no blanks, no slashes. */
const resourceName: Parser<string> = (raw) => {
  const t = raw.trim();
  if (!/^[^\s/]{1,253}$/.test(t)) throw new InvalidValue();
  return t;
};

const list: Parser<string[]> = (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean);

/** Kept whole: OPA --set values are themselves comma-separated pairs. */
const verbatim: Parser<string[]> = (raw) => (raw.trim() === '' ? [] : [raw]);

const buckets: Parser<number[]> = (raw) => {
  const values = raw.replace(/^\[|\]$/g, '').split(',').map((v) => v.trim()).filter(Boolean).map(Number);
  if (values.length === 0 || values.some((v) => !Number.isFinite(v) || v <= 0)) throw new InvalidValue();
  for (let i = 1; i < values.length; i++) if (values[i]! <= values[i - 1]!) throw new InvalidValue();
  return values;
};

const PLUGIN = ['plugins', 'envoy_ext_authz_grpc'] as const;

const MAX_INT32 = 2147483647;

function spec<K extends keyof Settings>(s: SettingSpec<K>): SettingSpec<K> {
  return s;
}

export const SETTINGS = [
  spec({ key: 'opaAddr', flag: '--opa-addr', env: 'KMESH_OPA_ADDR', default: 'localhost:8181', parse: address, allowed: 'host:port or :port', help: 'Address the OPA REST API listens on' }),
  spec({ key: 'configPath', flag: '--opa-config-path', env: 'KMESH_OPA_CONFIG_PATH', default: undefined, parse: str, allowed: 'path of a YAML or JSON OPA config file', help: 'OPA configuration file (${VAR} substituted)' }),
  spec({ key: 'diagnosticAddr', flag: '--opa-diagnostic-addr', env: 'KMESH_OPA_DIAGNOSTIC_ADDR', default: '0.0.0.0:8282', parse: address, allowed: 'host:port or :port', help: 'Address of the diagnostics server (health, metrics)' }),
  spec({ key: 'enabled', flag: '--opa-enabled', env: 'KMESH_OPA_ENABLED', default: true, parse: bool, allowed: 'true or false', help: 'Whether the agent runs at all; false logs one line and exits 0' }),
  spec({ key: 'configOverrides', flag: '--opa-set', env: 'KMESH_OPA_CONFIG_OVERRIDES', default: ['plugins.envoy_ext_authz_grpc.query=data.envoy.authz.allow'], parse: verbatim, repeatable: true, allowed: 'comma-separated key=value (or key:value) pairs, as OPA --set', help: 'Overrides of the OPA configuration, applied over the config file' }),
  spec({ key: 'extAuthzAddr', flag: '--opa-ext-authz-addr', env: 'KMESH_OPA_EXT_AUTHZ_ADDR', default: 'localhost:9191', parse: address, configKey: [...PLUGIN, 'addr'], allowed: 'host:port or :port', help: 'Address of the Envoy External Authorization (gRPC) service' }),
  spec({ key: 'enableReflection', flag: '--enable-reflection', env: 'KMESH_OPA_ENABLE_REFLECTION', default: false, parse: bool, configKey: [...PLUGIN, 'enable-reflection'], allowed: 'true or false', help: 'Serve gRPC server reflection on the ext_authz port' }),
  spec({ key: 'grpcRequestDurationBuckets', flag: '--grpc-request-duration-seconds-buckets', env: 'KMESH_OPA_GRPC_REQUEST_DURATION_SECONDS_BUCKETS', default: DEFAULT_DURATION_BUCKETS, parse: buckets, configKey: [...PLUGIN, 'grpc-request-duration-seconds-buckets'], allowed: 'increasing positive seconds, comma-separated', help: 'Buckets of grpc_request_duration_seconds' }),
  spec({ key: 'policy', flag: '--policy', env: 'KMESH_OPA_POLICY', default: [], parse: list, repeatable: true, allowed: 'paths of a bundle (.tar.gz), a .wasm module, or .rego files', help: 'Policy to enforce (default: the embedded JWT example policy)' }),
  spec({ key: 'data', flag: '--data', env: 'KMESH_OPA_DATA', default: undefined, parse: str, allowed: 'path of a JSON file', help: 'Data document for a bare .wasm policy' }),
  spec({ key: 'path', flag: '--path', env: 'KMESH_OPA_PATH', default: 'envoy/authz/allow', configKey: [...PLUGIN, 'path'], parse: str, allowed: 'a slash-separated rule path', help: 'Decision path (plugins.envoy_ext_authz_grpc.path)' }),
  spec({ key: 'query', flag: '--query', env: 'KMESH_OPA_QUERY', default: '', configKey: [...PLUGIN, 'query'], parse: str, allowed: 'a data reference such as data.envoy.authz.allow', help: 'Decision query; wins over --path (plugins.envoy_ext_authz_grpc.query)' }),
  spec({ key: 'statusOnError', flag: '--status-on-error', env: 'KMESH_OPA_STATUS_ON_ERROR', default: 403, parse: int(100, 599), allowed: 'an HTTP status code 100-599', help: 'HTTP status of the denial sent when the policy cannot decide (authConfig.statusOnError)' }),
  spec({ key: 'onAgentFailure', flag: '--on-agent-failure', env: 'KMESH_OPA_ON_AGENT_FAILURE', default: 'deny', parse: oneOf('allow', 'deny'), allowed: 'allow or deny', help: 'Answer when the policy cannot decide (authConfig.onAgentFailure)' }),
  spec({ key: 'requestBodyMaxSize', flag: '--request-body-max-size', env: 'KMESH_OPA_REQUEST_BODY_MAX_SIZE', default: 0, parse: int(0, MAX_INT32), allowed: 'bytes, 0 for no limit', help: 'Bytes of request body the policy sees at most; longer bodies are cut and marked partial (authConfig.requestBody.maxSize)' }),
  spec({ key: 'requestBodySendRaw', flag: '--request-body-send-raw', env: 'KMESH_OPA_REQUEST_BODY_SEND_RAW', default: false, parse: bool, allowed: 'true or false', help: 'Present the body as raw_body bytes (authConfig.requestBody.sendRawBody)' }),
  spec({ key: 'grpcMaxRecvMsgSize', flag: '--grpc-max-recv-msg-size', env: 'KMESH_OPA_GRPC_MAX_RECV_MSG_SIZE', default: 4 * 1024 * 1024, configKey: [...PLUGIN, 'grpc-max-recv-msg-size'], parse: int(1024, MAX_INT32), allowed: 'bytes, 1024 or more', help: 'Largest CheckRequest accepted' }),
  spec({ key: 'grpcMaxSendMsgSize', flag: '--grpc-max-send-msg-size', env: 'KMESH_OPA_GRPC_MAX_SEND_MSG_SIZE', default: MAX_INT32, configKey: [...PLUGIN, 'grpc-max-send-msg-size'], parse: int(1024, MAX_INT32), allowed: 'bytes, 1024 or more', help: 'Largest CheckResponse sent' }),
  spec({ key: 'regoVersion', flag: '--rego-version', env: 'KMESH_OPA_REGO_VERSION', default: 'auto', parse: oneOf('v0', 'v1', 'auto'), allowed: 'v0, v1 or auto', help: 'Rego syntax of .rego policies; auto tries v1, then v0 if the policy only parses as v0' }),
  spec({ key: 'dryRun', flag: '--dry-run', env: 'KMESH_OPA_DRY_RUN', default: false, configKey: [...PLUGIN, 'dry-run'], parse: bool, allowed: 'true or false', help: 'Allow every request, but decide (and log) as usual' }),
  spec({ key: 'skipRequestBodyParse', flag: '--skip-request-body-parse', env: 'KMESH_OPA_SKIP_REQUEST_BODY_PARSE', default: false, configKey: [...PLUGIN, 'skip-request-body-parse'], parse: bool, allowed: 'true or false', help: 'Leave parsed_body and truncated_body out of the input' }),
  spec({ key: 'logLevel', flag: '--log-level', env: 'KMESH_OPA_LOG_LEVEL', default: 'info', parse: oneOf(...LOG_LEVELS), allowed: 'debug, info, warn or error', help: 'Least severe log level written' }),
  spec({ key: 'wasmMaxMemoryMb', flag: '--wasm-max-memory-mb', env: 'KMESH_OPA_WASM_MAX_MEMORY_MB', default: 128, parse: int(1, 4096), allowed: 'MiB, 1-4096', help: "Bound on the policy's WebAssembly memory; an evaluation needing more fails (onAgentFailure)" }),
  spec({ key: 'cacheDir', flag: '--cache-dir', env: 'KMESH_OPA_CACHE_DIR', default: undefined, parse: str, allowed: 'a directory path', help: 'Where compiled Rego bundles are cached (default ~/.cache/kmesh-opa)' }),
  spec({ key: 'shutdownGraceSeconds', flag: '--shutdown-grace-seconds', env: 'KMESH_OPA_SHUTDOWN_GRACE_SECONDS', default: 10, parse: int(0, 3600), allowed: 'seconds, 0-3600', help: 'How long in-flight checks may run after SIGTERM' }),
  spec({ key: 'compiler', flag: '--compiler', env: 'KMESH_OPA_COMPILER', default: undefined, parse: str, allowed: 'path of an opa binary', help: 'The opa compiler for Rego policies (default: the project\'s .tools/bin/opa, else opa on PATH)' }),
  spec({ key: 'readyFd', flag: '--ready-fd', env: 'KMESH_OPA_READY_FD', default: undefined, parse: int(1, MAX_INT32), allowed: 'the number of an open file descriptor (1 or more)', help: 'Write one JSON line to this file descriptor when ready (listeners open, policy loaded), then close it' }),
  spec({ key: 'exitWithParent', flag: '--exit-with-parent', env: 'KMESH_OPA_EXIT_WITH_PARENT', default: false, parse: bool, allowed: 'true or false', help: 'Shut down gracefully when the parent process exits (checked twice a second), for supervisors such as kuma-dp' }),
  spec({ key: 'dataplaneMesh', flag: '--dataplane-mesh', env: 'KUMA_DATAPLANE_MESH', default: 'default', parse: resourceName, allowed: 'a Kuma mesh name', help: 'Mesh of the data plane this agent serves (kuma-dp exports it)' }),
  spec({ key: 'dataplaneName', flag: '--dataplane-name', env: 'KUMA_DATAPLANE_NAME', default: undefined, parse: resourceName, allowed: 'a Kuma Dataplane name', help: 'Name of the Dataplane resource of this agent\'s data plane (kuma-dp exports it)' }),
  spec({ key: 'dataplaneTags', flag: '--dataplane-tags', env: 'KMESH_OPA_DATAPLANE_TAGS', default: undefined, parse: str, allowed: 'comma-separated tag=value pairs, e.g. kuma.io/service=web', help: 'Tags of this data plane, which OPAPolicy selectors are matched against' }),
  spec({ key: 'dataplaneFile', flag: '--dataplane-file', env: 'KMESH_OPA_DATAPLANE_FILE', default: undefined, parse: str, allowed: 'path of a Universal Dataplane resource (YAML or JSON)', help: 'This data plane\'s Dataplane resource; its inbound tags are matched against OPAPolicy selectors' }),
  spec({ key: 'resourcesDir', flag: '--resources-dir', env: 'KMESH_OPA_RESOURCES_DIR', default: undefined, parse: str, allowed: 'a directory path', help: 'Directory of Universal resources (OPAPolicy, Secret, AccessRole, ...), watched for changes' }),
  spec({ key: 'dataDir', flag: '--data-dir', env: 'KMESH_OPA_DATA_DIR', default: undefined, parse: str, allowed: 'a directory path', help: 'Where the agent keeps its token signing key and API-written resources (default ~/.local/state/kmesh-opa)' }),
  spec({ key: 'apiAuthnLocalhostIsAdmin', flag: '--api-authn-localhost-is-admin', env: 'KMESH_OPA_API_AUTHN_LOCALHOST_IS_ADMIN', default: true, parse: bool, allowed: 'true or false', help: 'Requests from localhost without a token are user admin (group mesh-system:admin)' }),
] as const;

type AnySpec = SettingSpec<keyof Settings>;
const SPECS = SETTINGS as readonly AnySpec[];
const BY_FLAG = new Map<string, AnySpec>(SPECS.map((s) => [s.flag, s]));
const BY_KEY = new Map<string, AnySpec>(SPECS.map((s) => [s.key, s]));
/** Flags that take no value when given bare. */
const BOOLEAN_FLAGS = new Set(SPECS.filter((s) => typeof s.default === 'boolean').map((s) => s.flag));
/** Aliases users of the Go plugin / OPA type. */
const ALIASES: Record<string, string> = { '--addr': '--opa-ext-authz-addr', '--v0-compatible': '--rego-version=v0' };

export function defaultSettings(): Settings {
  const out = {} as Record<string, unknown>;
  for (const s of SPECS) out[s.key] = Array.isArray(s.default) ? [...s.default] : s.default;
  return out as unknown as Settings;
}

export interface ResolvedSettings {
  settings: Settings;
  /** Arguments that are not flags (policy files). */
  positional: string[];
  /** Where each setting's value came from. */
  origins: Record<keyof Settings, Origin>;
}

export type Origin = 'default' | 'config' | 'environment' | 'flag' | 'option';
const RANK: Record<Origin, number> = { default: 0, config: 1, environment: 2, flag: 3, option: 4 };

/** The OPA config document (file + overrides) as a source of settings; `origin` names it in errors. */
export interface ConfigLayer {
  doc: Record<string, unknown>;
  /** Names where the value at `key` came from (the file, or the override that set it). */
  originOf(key: readonly string[]): string;
}

/** Resolves every setting: library option > flag > environment > config document > default. */
export function resolveSettings(argv: readonly string[], env: NodeJS.ProcessEnv, config?: ConfigLayer, options?: SettingOptions): ResolvedSettings {
  const settings = defaultSettings() as unknown as Record<string, unknown>;
  const origins = {} as Record<string, Origin>;
  for (const s of SPECS) origins[s.key] = 'default';
  const set = (s: AnySpec, value: unknown, origin: Origin) => {
    settings[s.key] = value;
    origins[s.key] = origin;
  };
  if (config) {
    for (const s of SPECS) {
      if (!s.configKey) continue;
      const raw = readKey(config.doc, s.configKey);
      if (raw !== undefined && raw !== null) set(s, parseValue(s, configText(raw), config.originOf(s.configKey)), 'config');
    }
  }
  for (const s of SPECS) {
    const raw = s.env ? env[s.env] : undefined;
    if (raw !== undefined && raw !== '') set(s, parseValue(s, raw, `environment variable ${s.env}`), 'environment');
  }
  const { values, positional } = parseFlags(argv);
  for (const [key, list] of values) {
    const s = BY_KEY.get(key)!;
    set(s, s.repeatable ? list.flat() : list[list.length - 1], 'flag');
  }
  for (const [key, value] of Object.entries(options ?? {})) {
    const s = BY_KEY.get(key);
    if (!s) throw new SettingsError(`unknown option ${key}; options are the settings of "kmesh-opa run --help" by their option names`);
    const raws = optionTexts(s, value);
    if (raws === undefined) continue;
    const parsed = raws.map((raw) => parseValue(s, raw, `option ${key}`));
    set(s, s.repeatable ? parsed.flat() : parsed[0], 'option');
  }
  // The Go plugin prefers query over path; but a path given at a higher level (a flag) than the query
  // (Kong Mesh's default override) is what the user asked for.
  if (RANK[origins.path!] > RANK[origins.query!]) settings.query = '';
  return { settings: settings as unknown as Settings, positional, origins: origins as Record<keyof Settings, Origin> };
}

function readKey(doc: unknown, path: readonly string[]): unknown {
  let node = doc;
  for (const seg of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[seg];
  }
  return node;
}

function configText(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function parseFlags(argv: readonly string[]): { values: Map<string, unknown[]>; positional: string[] } {
  const positional: string[] = [];
  const values = new Map<string, unknown[]>();
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const alias = ALIASES[arg.split('=')[0]!];
    if (alias) arg = alias.includes('=') ? alias : alias + arg.slice(arg.split('=')[0]!.length);
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const s = BY_FLAG.get(flag);
    if (!s) throw new SettingsError(`unknown flag ${flag}; see "kmesh-opa run --help"`);
    let raw: string;
    if (eq !== -1) raw = arg.slice(eq + 1);
    // A boolean flag may stand alone, or be followed by an explicit true/false.
    else if (BOOLEAN_FLAGS.has(flag)) raw = /^(true|false)$/i.test(argv[i + 1] ?? '') ? argv[++i]! : 'true';
    else if (i + 1 < argv.length) raw = argv[++i]!;
    else throw new SettingsError(`flag ${flag} needs a value (${s.allowed})`);
    const list = values.get(s.key) ?? [];
    list.push(parseValue(s, raw, `flag ${flag}`));
    values.set(s.key, list);
  }
  return { values, positional };
}

/**
 * An option's value as the text a flag would carry, so that it meets the same parser and error text.
 * Lists of a repeatable setting are parsed item by item, as repeated flags; other lists are joined.
 */
function optionTexts(s: AnySpec, value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return s.repeatable ? value.map(optionText) : [value.map(optionText).join(',')];
  return [optionText(value)];
}

function optionText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value) ?? String(value);
}

function parseValue(s: AnySpec, raw: string, origin: string): unknown {
  try {
    return s.parse(raw);
  } catch (err) {
    if (!(err instanceof InvalidValue)) throw err;
    throw invalidValue(s, raw, origin);
  }
}

function invalidValue(s: AnySpec, raw: string, origin: string): SettingsError {
  return new SettingsError(`invalid value ${JSON.stringify(raw)} for ${s.flag.slice(2)} from ${origin}; allowed: ${s.allowed}`);
}

/** Names where a setting came from, as its error messages do. */
function sourceText(s: AnySpec, origin: Origin): string {
  switch (origin) {
    case 'flag':
      return `flag ${s.flag}`;
    case 'environment':
      return `environment variable ${s.env}`;
    case 'option':
      return `option ${s.key}`;
    case 'config':
      return 'the OPA configuration';
    case 'default':
      return 'the default';
  }
}

/**
 * A value that parsed but turned out unusable when the agent started (a closed --ready-fd): the same
 * one-line error as a value the parser refused.
 */
export function settingError(key: keyof Settings, value: unknown, origin: Origin): SettingsError {
  const s = BY_KEY.get(key)!;
  return invalidValue(s, optionText(value), sourceText(s, origin));
}

export function settingsHelp(): string {
  const rows = SPECS.map((s) => {
    const def = Array.isArray(s.default) ? (s.default.length ? s.default.join(',') : 'none') : s.default ?? 'none';
    return `  ${s.flag.padEnd(30)} ${s.help}\n  ${''.padEnd(30)} env ${s.env ?? '-'}; option ${s.key}; default ${String(def)}; ${s.allowed}`;
  });
  return rows.join('\n');
}
