// Every setting the agent reads, with its flag, environment variable, default and validation, in one
// table. Precedence: flag > environment > default. A bad value stops start-up with one line naming the
// setting, where the value came from and what is allowed.
import type { LogLevel } from '../log.js';

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

export interface Settings {
  extAuthzAddr: string;
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
}

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

const list: Parser<string[]> = (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean);

const MAX_INT32 = 2147483647;

function spec<K extends keyof Settings>(s: SettingSpec<K>): SettingSpec<K> {
  return s;
}

export const SETTINGS = [
  spec({ key: 'extAuthzAddr', flag: '--opa-ext-authz-addr', env: 'KMESH_OPA_EXT_AUTHZ_ADDR', default: 'localhost:9191', parse: address, allowed: 'host:port or :port', help: 'Address of the Envoy External Authorization (gRPC) service' }),
  spec({ key: 'policy', flag: '--policy', env: 'KMESH_OPA_POLICY', default: [], parse: list, repeatable: true, allowed: 'paths of a bundle (.tar.gz), a .wasm module, or .rego files', help: 'Policy to enforce (default: the embedded JWT example policy)' }),
  spec({ key: 'data', flag: '--data', env: 'KMESH_OPA_DATA', default: undefined, parse: str, allowed: 'path of a JSON file', help: 'Data document for a bare .wasm policy' }),
  spec({ key: 'path', flag: '--path', env: 'KMESH_OPA_PATH', default: 'envoy/authz/allow', parse: str, allowed: 'a slash-separated rule path', help: 'Decision path (plugins.envoy_ext_authz_grpc.path)' }),
  spec({ key: 'query', flag: '--query', env: 'KMESH_OPA_QUERY', default: '', parse: str, allowed: 'a data reference such as data.envoy.authz.allow', help: 'Decision query; wins over --path (plugins.envoy_ext_authz_grpc.query)' }),
  spec({ key: 'statusOnError', flag: '--status-on-error', env: 'KMESH_OPA_STATUS_ON_ERROR', default: 403, parse: int(100, 599), allowed: 'an HTTP status code 100-599', help: 'HTTP status of the denial sent when the policy cannot decide (authConfig.statusOnError)' }),
  spec({ key: 'onAgentFailure', flag: '--on-agent-failure', env: 'KMESH_OPA_ON_AGENT_FAILURE', default: 'deny', parse: oneOf('allow', 'deny'), allowed: 'allow or deny', help: 'Answer when the policy cannot decide (authConfig.onAgentFailure)' }),
  spec({ key: 'requestBodyMaxSize', flag: '--request-body-max-size', env: 'KMESH_OPA_REQUEST_BODY_MAX_SIZE', default: 0, parse: int(0, MAX_INT32), allowed: 'bytes, 0 for no limit', help: 'Bytes of request body the policy sees at most; longer bodies are cut and marked partial (authConfig.requestBody.maxSize)' }),
  spec({ key: 'requestBodySendRaw', flag: '--request-body-send-raw', env: 'KMESH_OPA_REQUEST_BODY_SEND_RAW', default: false, parse: bool, allowed: 'true or false', help: 'Present the body as raw_body bytes (authConfig.requestBody.sendRawBody)' }),
  spec({ key: 'grpcMaxRecvMsgSize', flag: '--grpc-max-recv-msg-size', env: 'KMESH_OPA_GRPC_MAX_RECV_MSG_SIZE', default: 4 * 1024 * 1024, parse: int(1024, MAX_INT32), allowed: 'bytes, 1024 or more', help: 'Largest CheckRequest accepted' }),
  spec({ key: 'grpcMaxSendMsgSize', flag: '--grpc-max-send-msg-size', env: 'KMESH_OPA_GRPC_MAX_SEND_MSG_SIZE', default: MAX_INT32, parse: int(1024, MAX_INT32), allowed: 'bytes, 1024 or more', help: 'Largest CheckResponse sent' }),
  spec({ key: 'regoVersion', flag: '--rego-version', env: 'KMESH_OPA_REGO_VERSION', default: 'auto', parse: oneOf('v0', 'v1', 'auto'), allowed: 'v0, v1 or auto', help: 'Rego syntax of .rego policies; auto tries v1, then v0 if the policy only parses as v0' }),
  spec({ key: 'dryRun', flag: '--dry-run', env: 'KMESH_OPA_DRY_RUN', default: false, parse: bool, allowed: 'true or false', help: 'Allow every request, but decide (and log) as usual' }),
  spec({ key: 'skipRequestBodyParse', flag: '--skip-request-body-parse', env: 'KMESH_OPA_SKIP_REQUEST_BODY_PARSE', default: false, parse: bool, allowed: 'true or false', help: 'Leave parsed_body and truncated_body out of the input' }),
  spec({ key: 'logLevel', flag: '--log-level', env: 'KMESH_OPA_LOG_LEVEL', default: 'info', parse: oneOf('debug', 'info', 'warn', 'error'), allowed: 'debug, info, warn or error', help: 'Least severe log level written' }),
  spec({ key: 'wasmMaxMemoryMb', flag: '--wasm-max-memory-mb', env: 'KMESH_OPA_WASM_MAX_MEMORY_MB', default: 128, parse: int(1, 4096), allowed: 'MiB, 1-4096', help: "Bound on the policy's WebAssembly memory; an evaluation needing more fails (onAgentFailure)" }),
  spec({ key: 'cacheDir', flag: '--cache-dir', env: 'KMESH_OPA_CACHE_DIR', default: undefined, parse: str, allowed: 'a directory path', help: 'Where compiled Rego bundles are cached (default ~/.cache/kmesh-opa)' }),
  spec({ key: 'shutdownGraceSeconds', flag: '--shutdown-grace-seconds', env: 'KMESH_OPA_SHUTDOWN_GRACE_SECONDS', default: 10, parse: int(0, 3600), allowed: 'seconds, 0-3600', help: 'How long in-flight checks may run after SIGTERM' }),
] as const;

type AnySpec = SettingSpec<keyof Settings>;
const SPECS = SETTINGS as readonly AnySpec[];
const BY_FLAG = new Map<string, AnySpec>(SPECS.map((s) => [s.flag, s]));
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
}

/** Applies environment, then flags, over the defaults. */
export function resolveSettings(argv: readonly string[], env: NodeJS.ProcessEnv): ResolvedSettings {
  const settings = defaultSettings() as unknown as Record<string, unknown>;
  for (const s of SPECS) {
    const raw = s.env ? env[s.env] : undefined;
    if (raw !== undefined && raw !== '') settings[s.key] = parseValue(s, raw, `environment variable ${s.env}`);
  }
  const positional: string[] = [];
  const fromFlags = new Map<string, unknown[]>();
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
    else if (BOOLEAN_FLAGS.has(flag)) raw = 'true';
    else if (i + 1 < argv.length) raw = argv[++i]!;
    else throw new SettingsError(`flag ${flag} needs a value (${s.allowed})`);
    const value = parseValue(s, raw, `flag ${flag}`);
    const values = fromFlags.get(s.key) ?? [];
    values.push(value);
    fromFlags.set(s.key, values);
  }
  for (const [key, values] of fromFlags) {
    const s = SPECS.find((x) => x.key === key)!;
    settings[key] = s.repeatable ? values.flat() : values[values.length - 1];
  }
  return { settings: settings as unknown as Settings, positional };
}

function parseValue(s: AnySpec, raw: string, origin: string): unknown {
  try {
    return s.parse(raw);
  } catch (err) {
    if (!(err instanceof InvalidValue)) throw err;
    throw new SettingsError(`invalid ${s.key} from ${origin}: ${JSON.stringify(raw)}; allowed: ${s.allowed}`);
  }
}

export function settingsHelp(): string {
  const rows = SPECS.map((s) => {
    const def = Array.isArray(s.default) ? (s.default.length ? s.default.join(',') : 'none') : s.default ?? 'none';
    return `  ${s.flag.padEnd(30)} ${s.help}\n  ${''.padEnd(30)} env ${s.env ?? '-'}; default ${String(def)}; ${s.allowed}`;
  });
  return rows.join('\n');
}
