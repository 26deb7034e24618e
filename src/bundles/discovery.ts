// Discovery as OPA 1.19 does it (plugins/discovery): the `discovery` section names a bundle whose
// `data.<decision>` is the agent's configuration. The bundle's Rego is compiled with the real OPA compiler
// and evaluated here; a bundle without Rego answers from its data. The boot configuration wins over what
// is discovered, key by key, and the discovery service and boot keys may not be changed by it.
import { isDeepStrictEqual } from 'node:util';
import { BundleError, bundleManifest, mergeDataFiles, readWasmBundle } from '../engine/bundle.js';
import { compileRego, type RegoModule, type RegoVersion } from '../engine/compile.js';
import { WasmPolicy } from '../engine/wasm.js';
import { ConfigValueError, isMapping, SectionReader } from '../services/config-values.js';
import { parseServices } from '../services/config.js';
import { DEFAULT_MAX_DELAY_SECONDS, DEFAULT_MIN_DELAY_SECONDS, DEFAULT_SIZE_LIMIT_BYTES } from './config.js';
import { unpackBundle } from './download.js';
import { parseKeys, sameKey, type BundleKey } from './keys.js';
import { parseSigningConfig, verifyBundle, type SigningConfig } from './signing.js';

export class DiscoveryConfigError extends ConfigValueError {
  override readonly name = 'DiscoveryConfigError';
}

/** The discovered configuration cannot be used; the message is OPA's. */
export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError';
}

export interface DiscoveryConfig {
  /** Deprecated `name`; also the default decision and the persistence folder name. */
  name?: string;
  /** Path of the bundle under the service URL. */
  resource: string;
  service: string;
  /** Slash path under data ('' is the whole data document). */
  decision: string;
  signing?: SigningConfig;
  polling: { minDelaySeconds: number; maxDelaySeconds: number; longPollingTimeoutSeconds?: number };
  trigger: 'periodic' | 'manual';
  persist: boolean;
}

const DEFAULT_PREFIX = 'bundles';
const INVALID = 'invalid configuration for discovery service';

/** Parses `discovery` (absent: undefined). Throws DiscoveryConfigError with OPA's texts. */
export function parseDiscoveryConfig(doc: unknown, serviceNames: readonly string[], keys: ReadonlyMap<string, BundleKey> = new Map()): DiscoveryConfig | undefined {
  if (doc === undefined || doc === null) return undefined;
  try {
    const r = SectionReader.of('discovery', doc);
    const name = r.string('name');
    const resource = r.string('resource');
    const prefix = r.string('prefix') ?? DEFAULT_PREFIX;
    if (resource === undefined && name === undefined) throw new DiscoveryConfigError('missing required discovery.resource field');
    let signing: SigningConfig | undefined;
    try {
      signing = parseSigningConfig(r.raw('signing'), keys, 'discovery.signing');
    } catch (err) {
      throw new DiscoveryConfigError(`${INVALID}: ${(err as Error).message}`);
    }
    const service = serviceFromList(r.string('service') ?? '', serviceNames);
    const decision = trimSlashes(r.string('decision') ?? name ?? '');
    return {
      ...(name !== undefined ? { name } : {}),
      resource: resource ?? `${trimSlashes(prefix)}/${trimSlashes(name!)}`,
      service,
      decision,
      ...(signing ? { signing } : {}),
      polling: polling(r.child('polling')),
      trigger: trigger(r.string('trigger')),
      persist: r.boolean('persist') ?? false,
    };
  } catch (err) {
    if (err instanceof ConfigValueError && !(err instanceof DiscoveryConfigError)) throw new DiscoveryConfigError(err.message);
    throw err;
  }
}

function serviceFromList(service: string, names: readonly string[]): string {
  if (service === '') {
    if (names.length !== 1) throw new DiscoveryConfigError(`${INVALID}: more than one service is defined`);
    return names[0]!;
  }
  if (!names.includes(service)) throw new DiscoveryConfigError(`${INVALID}: service name "${service}" not found`);
  return service;
}

function polling(r: SectionReader): DiscoveryConfig['polling'] {
  const min = r.integer('min_delay_seconds');
  const max = r.integer('max_delay_seconds');
  const longPoll = r.integer('long_polling_timeout_seconds');
  if (min !== undefined && max === undefined) throw new DiscoveryConfigError("polling configuration missing 'max_delay_seconds'");
  if (max !== undefined && min === undefined) throw new DiscoveryConfigError("polling configuration missing 'min_delay_seconds'");
  if (min !== undefined && max !== undefined && max < min) throw new DiscoveryConfigError('max polling delay must be >= min polling delay');
  if (longPoll !== undefined && longPoll < 1) throw new DiscoveryConfigError("'long_polling_timeout_seconds' must be at least 1");
  return {
    minDelaySeconds: min ?? DEFAULT_MIN_DELAY_SECONDS,
    maxDelaySeconds: max ?? DEFAULT_MAX_DELAY_SECONDS,
    ...(longPoll !== undefined ? { longPollingTimeoutSeconds: longPoll } : {}),
  };
}

function trigger(value: string | undefined): 'periodic' | 'manual' {
  if (value === undefined || value === '' || value === 'periodic') return 'periodic';
  if (value === 'manual') return 'manual';
  throw new DiscoveryConfigError(`invalid trigger mode "${value}" (want "periodic" or "manual")`);
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

export interface DiscoveryEngine {
  compiler?: string;
  cacheDir: string;
  /** Rego version when the bundle's manifest names none (OPA's default: v1). */
  regoVersion?: RegoVersion;
  /** Keys for the bundle's signature (the top-level `keys`). */
  keys?: ReadonlyMap<string, BundleKey>;
  /** Memory bound for evaluating the discovery policy, in 64 KiB pages. */
  maxMemoryPages?: number;
}

const DEFAULT_MAX_MEMORY_PAGES = 1024;
// OPA keeps ${NAME} as written when NAME is not set (unlike the boot file, where it becomes empty).
const ENV_REFERENCE = /\$\{.*?\}/g;

/**
 * Verifies the discovery bundle (as the bundle downloader does), evaluates `data.<decision>` and returns
 * the configuration it yields, with ${VAR} references to set environment variables replaced.
 * Throws DiscoveryError("undefined configuration") when the decision is undefined, as OPA.
 */
export function discoveredConfig(bundleBytes: Uint8Array, cfg: DiscoveryConfig, engine: DiscoveryEngine, env: NodeJS.ProcessEnv = process.env): Promise<Record<string, unknown>> {
  return discoveredConfigOf(unpackBundle(bundleBytes, 'discovery', DEFAULT_SIZE_LIMIT_BYTES), cfg, engine, env);
}

/** discoveredConfig of a bundle already unpacked. */
export async function discoveredConfigOf(files: ReadonlyMap<string, Uint8Array>, cfg: DiscoveryConfig, engine: DiscoveryEngine, env: NodeJS.ProcessEnv = process.env): Promise<Record<string, unknown>> {
  await verifyBundle(files, cfg.signing, engine.keys ?? new Map());
  const modules = regoModules(files);
  const data = bundleData(files);
  const value = modules.length === 0 ? at(data, cfg.decision) : await evaluateRego(modules, data, cfg.decision, files, engine);
  if (value === undefined) throw new DiscoveryError('undefined configuration');
  const text = JSON.stringify(value).replace(ENV_REFERENCE, (ref) => env[ref.slice(2, -1)] ?? ref);
  const config: unknown = JSON.parse(text);
  if (!isMapping(config)) throw new DiscoveryError(`the discovered configuration must be an object, got ${text.slice(0, 100)}`);
  return config;
}

function regoModules(files: ReadonlyMap<string, Uint8Array>): RegoModule[] {
  return [...files].filter(([path]) => path.endsWith('.rego')).map(([path, bytes]) => ({ name: path, source: Buffer.from(bytes).toString('utf8') }));
}

/** The bundle's data document, by the bundle reader's rules; a conflict is the discovery's error. */
function bundleData(files: ReadonlyMap<string, Uint8Array>): Record<string, unknown> {
  try {
    return mergeDataFiles(files);
  } catch (err) {
    if (err instanceof BundleError) throw new DiscoveryError(err.message);
    throw err;
  }
}

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(source)) {
    const existing = target[k];
    target[k] = isMapping(existing) && isMapping(v) ? mergeInto(existing, v) : v;
  }
  return target;
}

function at(doc: unknown, path: string): unknown {
  let node = doc;
  for (const seg of path.split('/').filter(Boolean)) {
    if (!isMapping(node)) return undefined;
    node = node[seg];
  }
  return node;
}

/**
 * The decision through a WASM build of the bundle's Rego. The whole data document (no decision) cannot
 * be a WASM entrypoint, so each top-level package is built as one and laid over the bundle's data.
 */
async function evaluateRego(modules: RegoModule[], data: Record<string, unknown>, decision: string, files: ReadonlyMap<string, Uint8Array>, engine: DiscoveryEngine): Promise<unknown> {
  if (!engine.compiler) throw new DiscoveryError('the discovery bundle holds Rego, which needs the OPA compiler to build WASM, and none was found');
  const entrypoints = decision !== '' ? [decision] : [...new Set(modules.flatMap((m) => topLevelPackages(m.source)))];
  const compiled = await compileRego(modules, { entrypoints, regoVersion: manifestRegoVersion(files) ?? engine.regoVersion ?? 'v1', compiler: engine.compiler, cacheDir: engine.cacheDir });
  const wasm = readWasmBundle(compiled.bundle).wasm;
  const evaluate = (entrypoint: string): unknown =>
    WasmPolicy.load(wasm, data, { decision: entrypoint, maxMemoryPages: engine.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES }).evaluate(undefined);
  if (decision !== '') return evaluate(decision);
  const root: Record<string, unknown> = structuredClone(data);
  for (const top of entrypoints) {
    const value = evaluate(top);
    if (value !== undefined) root[top] = isMapping(root[top]) && isMapping(value) ? mergeInto(root[top] as Record<string, unknown>, value) : value;
  }
  return root;
}

function topLevelPackages(source: string): string[] {
  return [...source.matchAll(/^\s*package\s+([A-Za-z_]\w*)/gm)].map((m) => m[1]!);
}

function manifestRegoVersion(files: ReadonlyMap<string, Uint8Array>): RegoVersion | undefined {
  const version = bundleManifest(files).rego_version;
  return version === 0 ? 'v0' : version === 1 ? 'v1' : undefined;
}

export interface MergedConfig {
  config: Record<string, unknown>;
  /** Dotted keys the boot configuration overrode, for the discovery status message. */
  overriddenKeys: string[];
}

/**
 * The configuration to run with: the discovered one, with the boot `discovery` section kept and every boot
 * key laid over it (boot wins). Refuses, with OPA's messages, a discovered configuration that changes the
 * discovery service or a key of the boot configuration.
 */
export function mergeDiscovered(boot: Record<string, unknown>, discovered: Record<string, unknown>): MergedConfig {
  const config: Record<string, unknown> = structuredClone(discovered);
  if (boot.discovery === undefined) delete config.discovery;
  else config.discovery = structuredClone(boot.discovery);
  checkDiscoveryService(boot, config);
  checkBootKeys(boot, config);
  const overriddenKeys = mergeOver(config, structuredClone(boot), '');
  return { config, overriddenKeys };
}

function checkDiscoveryService(boot: Record<string, unknown>, discovered: Record<string, unknown>): void {
  const bootServices = parseServices(boot.services);
  const discovery = parseDiscoveryConfig(boot.discovery, bootServices.map((s) => s.name));
  if (!discovery) return;
  const current = bootServices.find((s) => s.name === discovery.service);
  const next = parseServices(discovered.services).find((s) => s.name === discovery.service);
  if (next && !isDeepStrictEqual({ ...next, ignoredKeys: [] }, { ...current, ignoredKeys: [] })) {
    throw new DiscoveryError('updates to the discovery service are not allowed');
  }
}

function checkBootKeys(boot: Record<string, unknown>, discovered: Record<string, unknown>): void {
  const next = parseKeys(discovered.keys);
  const bootKeys = parseKeys(boot.keys);
  // OPA protects boot keys only when discovery verifies signatures (a signing section, or any boot key).
  const discoverySection = isMapping(boot.discovery) ? boot.discovery : {};
  if (discoverySection.signing === undefined && bootKeys.size === 0) return;
  for (const [id, key] of next) {
    const current = bootKeys.get(id);
    if (current && !sameKey(current, key)) throw new DiscoveryError('updates to keys specified in the boot configuration are not allowed');
  }
}

/** OPA's mergeValuesAndListOverrides: src over dest, listing keys whose discovered value was replaced. */
function mergeOver(dest: Record<string, unknown>, src: Record<string, unknown>, prefix: string): string[] {
  const overridden: string[] = [];
  for (const [k, v] of Object.entries(src)) {
    if (!(k in dest)) {
      dest[k] = v;
      continue;
    }
    const fullKey = prefix ? `${prefix}.${k}` : k;
    const existing = dest[k];
    if (!isMapping(v)) {
      if (!isDeepStrictEqual(existing, v)) overridden.push(fullKey);
      dest[k] = v;
    } else if (!isMapping(existing)) {
      dest[k] = v;
      overridden.push(fullKey);
    } else {
      overridden.push(...mergeOver(existing, v, fullKey));
    }
  }
  return overridden;
}
