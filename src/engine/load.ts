// One door for every source of policy: a bundle, a bare module (+ data), or Rego that is compiled first.
// Each ends in a ready WasmPolicy, which the caller activates with a single assignment.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { BundleError, isGzip, isWasm, unpackBundleFiles, wasmBundleOf } from './bundle.js';
import { compileRego, type CompileOptions, type RegoModule, type RegoVersion } from './compile.js';
import { entrypointName, PolicyLoadError, WasmPolicy } from './wasm.js';

export interface PolicySource {
  /** Path of a bundle (.tar.gz), a bare .wasm, or one or more .rego files. */
  paths: string[];
  /** JSON data document for a bare .wasm. */
  dataPath?: string;
}

export interface EngineOptions {
  decision: string;
  maxMemoryPages: number;
  regoVersion: RegoVersion | 'auto';
  compiler: string | undefined;
  cacheDir: string;
  now?: () => bigint;
}

/** A policy ready to serve, with what a reader of logs needs to know about it. */
export interface ActivePolicy {
  policy: WasmPolicy;
  /** Bundle revision from .manifest ('' when it has none), or `sha256:<16 hex>` of the Rego compiled here. */
  revision: string;
  /** Where it came from, for logs. */
  origin: string;
  regoVersion?: RegoVersion;
  /** The Rego behind it, when it was compiled here (shown by GET /v1/policies). */
  modules?: RegoModule[];
}

export async function loadPolicyFiles(source: PolicySource, options: EngineOptions): Promise<ActivePolicy> {
  const [first] = source.paths;
  if (!first) throw new PolicyLoadError('no policy given');
  if (source.paths.every((p) => p.endsWith('.rego'))) {
    const modules = await Promise.all(source.paths.map(async (p) => ({ name: basename(p), source: await readText(p) })));
    return loadRego(modules, options, source.paths.join(','));
  }
  if (source.paths.length > 1) throw new PolicyLoadError('give either one bundle/.wasm file or only .rego files');
  const bytes = await readBytes(first);
  const data = source.dataPath ? parseData(await readText(source.dataPath), source.dataPath) : undefined;
  return loadPolicyBytes(bytes, options, first, data);
}

/** A gzipped bundle or a bare module, as bytes (from a file, a Secret, an upload). */
export function loadPolicyBytes(bytes: Uint8Array, options: EngineOptions, origin: string, data?: unknown): ActivePolicy {
  if (isGzip(bytes)) return loadBundleFiles(asPolicyLoadError(origin, () => unpackBundleFiles(bytes)), options, origin, data);
  if (isWasm(bytes)) {
    return { policy: WasmPolicy.load(bytes, data ?? {}, wasmOptions(options)), revision: '', origin };
  }
  throw new PolicyLoadError(`${origin}: not a bundle (.tar.gz from "opa build -t wasm") or a .wasm module`);
}

/** A bundle already unpacked (to verify its signature first, say): its module, data and revision. */
export function loadBundleFiles(files: ReadonlyMap<string, Uint8Array>, options: EngineOptions, origin: string, data?: unknown): ActivePolicy {
  const bundle = asPolicyLoadError(origin, () => wasmBundleOf(files));
  const policy = WasmPolicy.load(bundle.wasm, mergeData(bundle.data, data), wasmOptions(options));
  return { policy, revision: bundle.manifest.revision ?? '', origin };
}

/** A bundle that cannot be read is a policy that cannot be loaded, named by where it came from. */
function asPolicyLoadError<T>(origin: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof BundleError) throw new PolicyLoadError(`${origin}: ${err.message}`);
    throw err;
  }
}

export async function loadRego(modules: RegoModule[], options: EngineOptions, origin: string): Promise<ActivePolicy> {
  if (!options.compiler) {
    throw new PolicyLoadError('Rego needs the OPA compiler to build WASM, and none was found: run "scripts/install-tools.sh opa", put opa on PATH or set KMESH_OPA_COMPILER (precompiled bundles need no compiler)');
  }
  const compileOptions: CompileOptions = {
    // The decision first (the hot path's entrypoint), then every package, so that the REST API can
    // answer any rule of the policy, not only the decision.
    entrypoints: [...new Set([entrypointName(options.decision), ...modules.flatMap((m) => packagePaths(m.source))])],
    regoVersion: options.regoVersion,
    compiler: options.compiler,
    cacheDir: options.cacheDir,
  };
  const compiled = await compileRego(modules, compileOptions);
  const active = loadPolicyBytes(compiled.bundle, options, origin);
  return { ...active, revision: active.revision || regoRevision(modules), regoVersion: compiled.regoVersion, modules };
}

/** Names the policy in logs and metrics: the same Rego always gets the same revision. */
function regoRevision(modules: RegoModule[]): string {
  const hash = createHash('sha256');
  for (const m of modules) hash.update(`${m.name}\0${m.source}\0`);
  return `sha256:${hash.digest('hex').slice(0, 16)}`;
}

/** `package envoy.authz` -> envoy/authz (the `package` line of every module). */
function packagePaths(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^\s*package\s+([A-Za-z_][\w.]*)/gm)) out.push(m[1]!.split('.').join('/'));
  return out;
}

function wasmOptions(options: EngineOptions) {
  return { decision: options.decision, maxMemoryPages: options.maxMemoryPages, ...(options.now ? { now: options.now } : {}) };
}

function mergeData(bundleData: Record<string, unknown>, extra: unknown): unknown {
  if (extra === undefined) return bundleData;
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) {
    throw new PolicyLoadError('the data document must be a JSON object');
  }
  return { ...bundleData, ...(extra as Record<string, unknown>) };
}

function parseData(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new PolicyLoadError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new PolicyLoadError(`cannot read policy ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function readText(path: string): Promise<string> {
  return Buffer.from(await readBytes(path)).toString('utf8');
}
