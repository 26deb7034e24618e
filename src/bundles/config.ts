// OPA's `bundles` section (and its deprecated single-bundle ancestor `bundle`): where each bundle is
// downloaded from and how often. Keys, defaults and refusals follow OPA 1.19's bundle plugin, so an
// OPA configuration works here unchanged.
import { resolve } from 'node:path';
import { ConfigValueError, SectionReader, describe, isMapping } from '../services/config-values.js';
import type { BundleKey } from './keys.js';
import { parseSigningConfig, type SigningConfig } from './signing.js';

export class BundleConfigError extends ConfigValueError {
  override readonly name = 'BundleConfigError';
}

export type TriggerMode = 'periodic' | 'manual';

export interface PollingConfig {
  minDelaySeconds: number;
  maxDelaySeconds: number;
  /** Set: ask the server to hold the request until the bundle changes (`Prefer: wait=N`). */
  longPollingTimeoutSeconds?: number;
}

export interface BundleConfig {
  name: string;
  service: string;
  /** Path under the service URL. */
  resource: string;
  trigger: TriggerMode;
  polling: PollingConfig;
  persist: boolean;
  /** Where a persisted bundle lives: `<persistence_directory>/bundles/<name>/bundle.tar.gz`. */
  persistDirectory: string;
  /** Absent: the bundle is not verified (no `signing` section and no keys). */
  signing?: SigningConfig;
  sizeLimitBytes: number;
  /** Keys OPA would ignore, as dotted paths: worth a warning. */
  ignoredKeys: string[];
}

export interface BundleConfigOptions {
  /** OPA's `persistence_directory`; OPA's default is `.opa` under the working directory. */
  persistenceDirectory?: string;
  /** The top-level `keys`: a signing keyid must name one, and any key makes OPA verify signed bundles. */
  keys?: ReadonlyMap<string, BundleKey>;
}

export const DEFAULT_MIN_DELAY_SECONDS = 60;
export const DEFAULT_MAX_DELAY_SECONDS = 120;
/** OPA's bundle.DefaultSizeLimitBytes: 1 GiB, against gzip bombs. */
export const DEFAULT_SIZE_LIMIT_BYTES = 1024 * 1024 * 1024;
const DEFAULT_RESOURCE_PREFIX = 'bundles';
const TRIGGER_MODES: readonly TriggerMode[] = ['periodic', 'manual'];
const NO_KEYS: ReadonlyMap<string, BundleKey> = new Map();

/** Parses `bundles` (a mapping from bundle name to source). Throws BundleConfigError naming the bad key. */
export function parseBundlesConfig(doc: unknown, serviceNames: readonly string[], opts: BundleConfigOptions = {}): BundleConfig[] {
  if (doc === undefined || doc === null) return [];
  if (!isMapping(doc)) throw new BundleConfigError(`bundles must be a mapping from bundle name to bundle source, got ${describe(doc)}`);
  return wrapErrors(() =>
    Object.entries(doc)
      // OPA skips names whose source is null.
      .filter(([, source]) => source !== null && source !== undefined)
      .map(([name, source]) => parseSource(name, SectionReader.of(`bundles.${name}`, source), serviceNames, opts)),
  );
}

/**
 * Parses OPA's deprecated `bundle` section: one bundle at `<prefix>/<name>` (prefix `bundles` by
 * default), never persisted nor verified. OPA uses it instead of `bundles` when both are given.
 */
export function parseLegacyBundleConfig(doc: unknown, serviceNames: readonly string[], opts: BundleConfigOptions = {}): BundleConfig | undefined {
  if (doc === undefined || doc === null) return undefined;
  return wrapErrors(() => {
    const r = SectionReader.of('bundle', doc);
    const name = r.string('name') ?? '';
    if (name === '') throw new BundleConfigError(`${r.key('name')} must be set: invalid bundle name ""`);
    const prefix = r.string('prefix') ?? DEFAULT_RESOURCE_PREFIX;
    const signing = parseSigningConfig(undefined, opts.keys ?? NO_KEYS, 'bundle.signing');
    return {
      name,
      service: pickService(r, serviceNames),
      resource: joinResource(prefix, name),
      trigger: parseTrigger(r),
      polling: parsePolling(r.child('polling')),
      persist: false,
      persistDirectory: persistDirectory(opts),
      ...(signing ? { signing } : {}),
      sizeLimitBytes: DEFAULT_SIZE_LIMIT_BYTES,
      ignoredKeys: r.unread(),
    };
  });
}

/** The bundles an OPA configuration asks for: `bundle` wins over `bundles`, as in OPA, and is flagged deprecated. */
export function bundlesFromOpaConfig(
  config: { bundle?: unknown; bundles?: unknown },
  serviceNames: readonly string[],
  opts: BundleConfigOptions = {},
): { bundles: BundleConfig[]; usesDeprecatedBundle: boolean } {
  const legacy = parseLegacyBundleConfig(config.bundle, serviceNames, opts);
  if (legacy) return { bundles: [legacy], usesDeprecatedBundle: true };
  return { bundles: parseBundlesConfig(config.bundles, serviceNames, opts), usesDeprecatedBundle: false };
}

function parseSource(name: string, r: SectionReader, serviceNames: readonly string[], opts: BundleConfigOptions): BundleConfig {
  const resource = r.string('resource') || joinResource(DEFAULT_RESOURCE_PREFIX, name);
  if (resource.startsWith('file://')) {
    throw new BundleConfigError(`${r.key('resource')} "${resource}": file:// bundles are not supported by kmesh-opa (serve the file over HTTP, or load it with the policy flags)`);
  }
  const signing = parseSigningConfig(r.raw('signing'), opts.keys ?? NO_KEYS, r.key('signing'));
  const sizeLimit = r.integer('size_limit_bytes') ?? 0;
  return {
    name,
    service: pickService(r, serviceNames),
    resource,
    trigger: parseTrigger(r),
    polling: parsePolling(r.child('polling')),
    persist: r.boolean('persist') ?? false,
    persistDirectory: persistDirectory(opts),
    ...(signing ? { signing } : {}),
    // OPA: zero or negative means the default.
    sizeLimitBytes: sizeLimit > 0 ? sizeLimit : DEFAULT_SIZE_LIMIT_BYTES,
    ignoredKeys: r.unread(),
  };
}

/** OPA takes the first configured service when none is named. */
function pickService(r: SectionReader, serviceNames: readonly string[]): string {
  const service = r.string('service') ?? '';
  if (service === '' && serviceNames.length > 0) return serviceNames[0]!;
  if (!serviceNames.includes(service)) {
    const known = serviceNames.length > 0 ? `configured services: ${serviceNames.join(', ')}` : 'no services are configured';
    throw new BundleConfigError(`${r.key('service')}: service name "${service}" not found (${known})`);
  }
  return service;
}

function parseTrigger(r: SectionReader): TriggerMode {
  const trigger = r.string('trigger') ?? 'periodic';
  if (!(TRIGGER_MODES as readonly string[]).includes(trigger)) {
    throw new BundleConfigError(`${r.key('trigger')}: invalid trigger mode "${trigger}" (want "periodic" or "manual")`);
  }
  return trigger as TriggerMode;
}

function parsePolling(r: SectionReader): PollingConfig {
  const min = r.integer('min_delay_seconds');
  const max = r.integer('max_delay_seconds');
  const longPoll = r.integer('long_polling_timeout_seconds');
  // OPA takes both or neither: one alone is an error, not a default for the other.
  if (min !== undefined && max === undefined) throw new BundleConfigError(`${r.key('max_delay_seconds')} must be set: polling configuration missing 'max_delay_seconds'`);
  if (max !== undefined && min === undefined) throw new BundleConfigError(`${r.key('min_delay_seconds')} must be set: polling configuration missing 'min_delay_seconds'`);
  if (min !== undefined && max !== undefined && max < min) {
    throw new BundleConfigError(`${r.key('max_delay_seconds')}: max polling delay must be >= min polling delay (got ${max} < ${min})`);
  }
  if (longPoll !== undefined && longPoll < 1) {
    throw new BundleConfigError(`${r.key('long_polling_timeout_seconds')}: 'long_polling_timeout_seconds' must be at least 1, got ${longPoll}`);
  }
  return {
    minDelaySeconds: min ?? DEFAULT_MIN_DELAY_SECONDS,
    maxDelaySeconds: max ?? DEFAULT_MAX_DELAY_SECONDS,
    ...(longPoll !== undefined ? { longPollingTimeoutSeconds: longPoll } : {}),
  };
}

/** Go's path.Join without the leading slash, as OPA builds the resource path. */
function joinResource(prefix: string, name: string): string {
  return [...prefix.split('/'), ...name.split('/')].filter((seg) => seg !== '' && seg !== '.').join('/');
}

function persistDirectory(opts: BundleConfigOptions): string {
  return resolve(opts.persistenceDirectory || '.opa');
}

function wrapErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigValueError && !(err instanceof BundleConfigError)) throw new BundleConfigError(err.message);
    throw err;
  }
}
