// Kong Mesh's OPAPolicy and Secret (Universal form): what a write must look like, and how a stored
// policy becomes what the engine loads (Rego modules or one precompiled bundle) plus its agent and
// ext_authz settings. Pure functions: secrets come in through a callback.
import { parseDocument } from 'yaml';
import { BundleError, BundleTooLargeError, isGzip, isWasm, unpackBundleFiles } from '../engine/bundle.js';
import { isRecord, META_FIELDS, unknownFields, validateSelectors } from './selection.js';
import { ValidationError, type FieldViolation, type Resource } from './types.js';

const POLICY_FIELDS = new Set([...META_FIELDS, 'selectors', 'conf']);
const SECRET_FIELDS = new Set([...META_FIELDS, 'data']);
const CONF_FIELDS = new Set(['agentConfig', 'policies', 'authConfig']);
const SOURCE_FIELDS = new Set(['inlineString', 'secret']);
const AUTH_FIELDS = new Set(['statusOnError', 'onAgentFailure', 'requestBody']);
const BODY_FIELDS = new Set(['maxSize', 'sendRawBody']);
const ON_AGENT_FAILURE = ['allow', 'deny'] as const;
// The same bounds as the --status-on-error and --request-body-max-size settings.
const MIN_STATUS = 100;
const MAX_STATUS = 599;
const MAX_BODY_SIZE = 2147483647;
/** Kuma's Secret data is Go's base64.StdEncoding, whose decoder skips CR and LF. */
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const LINE_BREAKS = /[\r\n]/g;
/** A resource name as settings accept one (kuma-dp's names): no blanks, no slashes. */
const RESOURCE_NAME = /^[^\s/]{1,253}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });
/**
 * A Secret's bundle is at most what a resource body may carry (1 MiB); a real bundle unpacks to a few
 * times that, a gzip bomb to gigabytes held in memory by whoever may write a Secret.
 */
export const MAX_UNPACKED_BUNDLE_BYTES = 64 * 1024 * 1024;

export interface ResolvedOpaPolicy {
  /** Rego modules to compile together (names like `opa-1.policies[0].rego`), or one precompiled bundle. Absent when conf.policies is absent/empty. */
  policy?: { rego: { name: string; source: string }[] } | { bundle: Uint8Array; origin: string };
  /** conf.agentConfig parsed (YAML → object), to be applied over the boot OPA config. */
  agentConfig?: Record<string, unknown>;
  authConfig: { statusOnError?: number; onAgentFailure?: 'allow' | 'deny'; maxSize?: number; sendRawBody?: boolean };
}

type Source = { inlineString: string } | { secret: string };

// ---- validation ----

export function validateOpaPolicy(r: Resource): FieldViolation[] {
  const out = [...unknownFields(r, POLICY_FIELDS, ''), ...validateSelectors(r.selectors, 'selectors')];
  const conf = r.conf;
  if (conf === undefined) return [...out, { field: 'conf', message: 'must be defined' }];
  if (!isRecord(conf)) return [...out, { field: 'conf', message: 'must be an object' }];
  out.push(...unknownFields(conf, CONF_FIELDS, 'conf'));
  out.push(...validatePolicies(conf.policies, 'conf.policies'));
  if (conf.agentConfig !== undefined) out.push(...validateAgentConfig(conf.agentConfig, 'conf.agentConfig'));
  if (conf.authConfig !== undefined) out.push(...validateAuthConfig(conf.authConfig, 'conf.authConfig'));
  return out;
}

function validatePolicies(value: unknown, path: string): FieldViolation[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return [{ field: path, message: 'must be a list' }];
  return value.flatMap((entry, i) => validateSource(entry, `${path}[${i}]`, true));
}

/** A DataSource: `inlineString` or `secret`; exactly one when `required`, else at most one. */
function validateSource(value: unknown, path: string, required: boolean): FieldViolation[] {
  if (!isRecord(value)) return [{ field: path, message: 'must be an object with inlineString or secret' }];
  const out = unknownFields(value, SOURCE_FIELDS, path);
  const given = [...SOURCE_FIELDS].filter((k) => value[k] !== undefined);
  if (given.length > 1 || (required && given.length === 0)) {
    out.push({ field: path, message: `must have ${required ? 'exactly' : 'at most'} one of inlineString, secret` });
  }
  const { inlineString, secret } = value;
  if (inlineString !== undefined && (typeof inlineString !== 'string' || inlineString === '')) {
    out.push({ field: `${path}.inlineString`, message: 'must be a non-empty string' });
  }
  if (secret !== undefined && (typeof secret !== 'string' || !RESOURCE_NAME.test(secret))) {
    out.push({ field: `${path}.secret`, message: 'must be the name of a Secret' });
  }
  return out;
}

function validateAgentConfig(value: unknown, path: string): FieldViolation[] {
  const out = validateSource(value, path, false);
  if (out.length === 0 && isRecord(value) && typeof value.inlineString === 'string') {
    const parsed = parseYamlMapping(value.inlineString);
    if (typeof parsed === 'string') out.push({ field: `${path}.inlineString`, message: parsed });
  }
  return out;
}

function validateAuthConfig(value: unknown, path: string): FieldViolation[] {
  if (!isRecord(value)) return [{ field: path, message: 'must be an object' }];
  const out = unknownFields(value, AUTH_FIELDS, path);
  const { statusOnError, onAgentFailure, requestBody } = value;
  if (statusOnError !== undefined && !isIntegerIn(statusOnError, MIN_STATUS, MAX_STATUS)) {
    out.push({ field: `${path}.statusOnError`, message: `must be an HTTP status code ${MIN_STATUS}-${MAX_STATUS}` });
  }
  if (onAgentFailure !== undefined && !ON_AGENT_FAILURE.includes(onAgentFailure as 'allow')) {
    out.push({ field: `${path}.onAgentFailure`, message: `must be one of: ${ON_AGENT_FAILURE.join(', ')}` });
  }
  if (requestBody !== undefined) out.push(...validateRequestBody(requestBody, `${path}.requestBody`));
  return out;
}

function validateRequestBody(value: unknown, path: string): FieldViolation[] {
  if (!isRecord(value)) return [{ field: path, message: 'must be an object' }];
  const out = unknownFields(value, BODY_FIELDS, path);
  if (value.maxSize !== undefined && !isIntegerIn(value.maxSize, 0, MAX_BODY_SIZE)) {
    out.push({ field: `${path}.maxSize`, message: `must be a whole number of bytes, 0-${MAX_BODY_SIZE}` });
  }
  if (value.sendRawBody !== undefined && typeof value.sendRawBody !== 'boolean') {
    out.push({ field: `${path}.sendRawBody`, message: 'must be true or false' });
  }
  return out;
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** Used for Secret and GlobalSecret alike. */
export function validateSecret(r: Resource): FieldViolation[] {
  const out = unknownFields(r, SECRET_FIELDS, '');
  const data = secretData(r);
  return typeof data === 'string' ? [...out, { field: 'data', message: data }] : out;
}

/** The decoded bytes of a Secret, or why there are none. */
function secretData(r: Resource): Uint8Array | string {
  const { data } = r;
  if (data === undefined || data === '') return 'cannot be empty';
  if (typeof data !== 'string') return 'must be a base64 string';
  const compact = data.replace(LINE_BREAKS, '');
  if (compact === '') return 'cannot be empty';
  if (!STD_BASE64.test(compact)) return 'must be valid base64';
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

/** The YAML text as a mapping, or the reason it is not one (with the line of a syntax error). */
function parseYamlMapping(text: string): Record<string, unknown> | string {
  const doc = parseDocument(text);
  const [error] = doc.errors;
  if (error) {
    const line = error.linePos?.[0].line;
    const reason = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    return `invalid YAML${line === undefined ? '' : ` at line ${line}`}: ${reason}`;
  }
  const value: unknown = doc.toJS();
  return isRecord(value) ? value : 'must be a YAML mapping (the OPA configuration document)';
}

// ---- resolution ----

/** Everything the agent needs from a stored OPAPolicy; a missing or unusable Secret throws ValidationError. */
export function resolveOpaPolicy(r: Resource, secret: (name: string) => Resource | undefined): ResolvedOpaPolicy {
  const invalid = validateOpaPolicy(r);
  if (invalid.length > 0) throw new ValidationError(invalid);
  const conf = r.conf as { policies?: Source[]; agentConfig?: { inlineString?: string; secret?: string }; authConfig?: Record<string, unknown> };
  const resolver = new SecretResolver(r.mesh ?? 'default', secret);
  const policy = resolvePolicies(r.name, conf.policies ?? [], resolver);
  const agentConfig = resolveAgentConfig(conf.agentConfig, resolver);
  if (resolver.violations.length > 0) throw new ValidationError(resolver.violations);
  return { ...(policy ? { policy } : {}), ...(agentConfig ? { agentConfig } : {}), authConfig: authConfigOf(conf.authConfig) };
}

/** Looks Secrets up in the policy's mesh and gathers every problem, so that one error lists them all. */
class SecretResolver {
  readonly violations: FieldViolation[] = [];

  constructor(
    private readonly mesh: string,
    private readonly lookup: (name: string) => Resource | undefined,
  ) {}

  bytes(name: string, field: string): Uint8Array | undefined {
    const found = this.lookup(name);
    if (!found) return this.fail(field, `secret "${name}" not found in mesh "${this.mesh}"`);
    const data = secretData(found);
    if (typeof data === 'string') return this.fail(field, `secret "${name}" is not valid: data ${data}`);
    return data;
  }

  text(bytes: Uint8Array, name: string, field: string): string | undefined {
    try {
      return UTF8.decode(bytes);
    } catch {
      return this.fail(field, `secret "${name}" holds neither UTF-8 text nor a gzipped bundle`);
    }
  }

  fail(field: string, message: string): undefined {
    this.violations.push({ field, message });
    return undefined;
  }
}

type PolicyPart = { rego: { name: string; source: string }[] } | { bundle: Uint8Array; origin: string };

function resolvePolicies(policyName: string, sources: Source[], resolver: SecretResolver): ResolvedOpaPolicy['policy'] {
  const parts = sources.map((source, i) => resolvePolicy(policyName, source, i, resolver));
  const bundleAt = parts.findIndex((p) => p !== undefined && 'bundle' in p);
  const bundle = parts[bundleAt];
  if (bundle && 'bundle' in bundle) {
    if (parts.length === 1) return bundle;
    const secretName = (sources[bundleAt] as { secret: string }).secret;
    resolver.fail(`conf.policies[${bundleAt}].secret`, `secret "${secretName}" holds a compiled WebAssembly policy, which must be the only entry of conf.policies`);
    return undefined;
  }
  const rego = parts.flatMap((p) => (p && 'rego' in p ? p.rego : []));
  return rego.length > 0 ? { rego } : undefined;
}

function resolvePolicy(policyName: string, source: Source, i: number, resolver: SecretResolver): PolicyPart | undefined {
  const moduleName = `${policyName}.policies[${i}]`;
  if ('inlineString' in source) return { rego: [{ name: `${moduleName}.rego`, source: source.inlineString }] };
  const field = `conf.policies[${i}].secret`;
  const bytes = resolver.bytes(source.secret, field);
  if (!bytes) return undefined;
  const origin = `secret "${source.secret}" (${field})`;
  if (isWasm(bytes)) return { bundle: bytes, origin };
  if (isGzip(bytes)) return bundlePart(bytes, moduleName, origin, source.secret, field, resolver);
  const text = resolver.text(bytes, source.secret, field);
  return text === undefined ? undefined : { rego: [{ name: `${moduleName}.rego`, source: text }] };
}

/**
 * A gzipped bundle: `opa build -t wasm` output is loaded as it is; a bundle of Rego (`opa build`)
 * gives its .rego files. Its data files would be lost on the way to the compiler, so a Rego bundle
 * carrying data is refused rather than run with data silently missing.
 */
function bundlePart(gz: Uint8Array, moduleName: string, origin: string, secretName: string, field: string, resolver: SecretResolver): PolicyPart | undefined {
  let files: Map<string, Uint8Array>;
  try {
    files = unpackBundleFiles(gz, MAX_UNPACKED_BUNDLE_BYTES);
  } catch (err) {
    return resolver.fail(field, `secret "${secretName}" holds a broken bundle: ${brokenBundleReason(err)}`);
  }
  const paths = [...files.keys()].sort();
  if (paths.some((p) => p.endsWith('.wasm'))) return { bundle: gz, origin };
  if (paths.some((p) => isDataFile(p) && !isEmptyObject(files.get(p)!))) {
    return resolver.fail(field, `secret "${secretName}" holds a Rego bundle with data: build it with "opa build -t wasm" to keep its data`);
  }
  const rego: { name: string; source: string }[] = [];
  for (const path of paths.filter((p) => p.endsWith('.rego'))) {
    const source = resolver.text(files.get(path)!, secretName, field);
    if (source === undefined) return undefined;
    rego.push({ name: `${moduleName}/${path}`, source });
  }
  if (rego.length === 0) return resolver.fail(field, `secret "${secretName}" holds a bundle with neither policy.wasm nor .rego files`);
  return { rego };
}

/** Why a Secret's bundle could not be unpacked, in the words the field violation uses. */
function brokenBundleReason(err: unknown): string {
  if (err instanceof BundleTooLargeError) return `it unpacks to more than ${err.limit} bytes`;
  if (err instanceof BundleError) return err.cause === undefined ? err.message : 'not valid gzip';
  return 'not a tar archive';
}

function isDataFile(path: string): boolean {
  return /(^|\/)data\.(json|ya?ml)$/.test(path);
}

function isEmptyObject(bytes: Uint8Array): boolean {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return isRecord(value) && Object.keys(value).length === 0;
  } catch {
    return false;
  }
}

function resolveAgentConfig(source: { inlineString?: string; secret?: string } | undefined, resolver: SecretResolver): Record<string, unknown> | undefined {
  if (source?.inlineString !== undefined) {
    const parsed = parseYamlMapping(source.inlineString);
    return typeof parsed === 'string' ? resolver.fail('conf.agentConfig.inlineString', parsed) : parsed;
  }
  if (source?.secret === undefined) return undefined;
  const field = 'conf.agentConfig.secret';
  const bytes = resolver.bytes(source.secret, field);
  const text = bytes && resolver.text(bytes, source.secret, field);
  if (text === undefined) return undefined;
  const parsed = parseYamlMapping(text);
  return typeof parsed === 'string' ? resolver.fail(field, `secret "${source.secret}": ${parsed}`) : parsed;
}

/** The authConfig of a valid OPAPolicy, only the settings it gives (the agent's own fill the rest). */
export function authConfigOf(auth: Record<string, unknown> | undefined): ResolvedOpaPolicy['authConfig'] {
  const body = isRecord(auth?.requestBody) ? auth.requestBody : {};
  const out: ResolvedOpaPolicy['authConfig'] = {};
  if (typeof auth?.statusOnError === 'number') out.statusOnError = auth.statusOnError;
  if (auth?.onAgentFailure === 'allow' || auth?.onAgentFailure === 'deny') out.onAgentFailure = auth.onAgentFailure;
  if (typeof body.maxSize === 'number') out.maxSize = body.maxSize;
  if (typeof body.sendRawBody === 'boolean') out.sendRawBody = body.sendRawBody;
  return out;
}
