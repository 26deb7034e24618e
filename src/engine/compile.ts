// Rego -> WASM bundle with the real OPA compiler (`opa build -t wasm`). Results are cached on disk by
// content hash, so an unchanged policy is never rebuilt, across restarts too.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export class CompileError extends Error {
  override readonly name = 'CompileError';
}

export type RegoVersion = 'v0' | 'v1';

export interface RegoModule {
  /** File name shown in compile errors (OPA prints file:row:col). */
  name: string;
  source: string;
}

export interface CompileOptions {
  /** Entrypoints in slash form (envoy/authz/allow). */
  entrypoints: string[];
  /** v1 or v0; 'auto' tries v1 and falls back to v0 when the modules only parse as v0. */
  regoVersion: RegoVersion | 'auto';
  /** The opa binary; see findCompiler. */
  compiler: string;
  /** Where built bundles are kept. */
  cacheDir: string;
}

export interface CompiledRego {
  bundle: Uint8Array;
  regoVersion: RegoVersion;
  fromCache: boolean;
}

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where opa is when the compiler setting (KMESH_OPA_COMPILER) names none: the project's tool folder, else PATH. */
export function findCompiler(env: NodeJS.ProcessEnv): string | undefined {
  const local = join(PACKAGE_ROOT, '.tools', 'bin', 'opa');
  if (existsSync(local)) return local;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'opa'))) return join(dir, 'opa');
  }
  return undefined;
}

/** The cache when the cacheDir setting (KMESH_OPA_CACHE_DIR) names none. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : tmpdir());
  return join(base, 'kmesh-opa');
}

export async function compileRego(modules: RegoModule[], options: CompileOptions): Promise<CompiledRego> {
  if (modules.length === 0) throw new CompileError('no Rego modules to compile');
  const versions: RegoVersion[] = options.regoVersion === 'auto' ? ['v1', 'v0'] : [options.regoVersion];
  let firstError: CompileError | undefined;
  for (const version of versions) {
    try {
      return await compileCached(modules, version, options);
    } catch (err) {
      if (!(err instanceof CompileError)) throw err;
      firstError ??= err;
      // Only a parse failure under v1 is a reason to try v0; type or semantic errors are final.
      if (!/rego_parse_error/.test(err.message)) break;
    }
  }
  throw firstError!;
}

async function compileCached(modules: RegoModule[], version: RegoVersion, options: CompileOptions): Promise<CompiledRego> {
  const hash = createHash('sha256');
  hash.update(`${version}\0${options.entrypoints.join(',')}\0`);
  for (const m of modules) hash.update(`${m.name}\0${m.source}\0`);
  const key = hash.digest('hex');
  const cached = join(options.cacheDir, `${key}.tar.gz`);
  try {
    return { bundle: await readFile(cached), regoVersion: version, fromCache: true };
  } catch {
    // not built yet
  }
  const bundle = await build(modules, version, options);
  await mkdir(options.cacheDir, { recursive: true });
  const partial = `${cached}.${process.pid}.tmp`;
  await writeFile(partial, bundle);
  await rename(partial, cached);
  return { bundle, regoVersion: version, fromCache: false };
}

async function build(modules: RegoModule[], version: RegoVersion, options: CompileOptions): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'kmesh-opa-build-'));
  try {
    const src = join(dir, 'src');
    await mkdir(src);
    const names = new Set<string>();
    // File names on disk are made safe; OPA's errors are given back with the names the caller used.
    const original = new Map<string, string>();
    for (const m of modules) {
      const name = uniqueName(m.name, names);
      original.set(name, m.name);
      await writeFile(join(src, name), m.source);
    }
    const out = join(dir, 'bundle.tar.gz');
    const args = ['build', '-t', 'wasm', ...options.entrypoints.flatMap((e) => ['-e', e]), '-o', out];
    if (version === 'v0') args.push('--v0-compatible');
    args.push(src);
    try {
      await run(options.compiler, args, dir);
    } catch (err) {
      if (err instanceof CompileError) err.message = err.message.replace(/([A-Za-z0-9._-]+\.rego)(?=:\d)/g, (file) => original.get(file) ?? file);
      throw err;
    }
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function uniqueName(name: string, taken: Set<string>): string {
  let base = name.replace(/[^A-Za-z0-9._-]/g, '_') || 'policy.rego';
  if (!base.endsWith('.rego')) base += '.rego';
  let candidate = base;
  for (let i = 2; taken.has(candidate); i++) candidate = base.replace(/\.rego$/, `-${i}.rego`);
  taken.add(candidate);
  return candidate;
}

function run(compiler: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(compiler, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolvePromise();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        reject(new CompileError(`the OPA compiler was not found at ${compiler}: run scripts/install-tools.sh opa or set KMESH_OPA_COMPILER`));
        return;
      }
      // opa build prints "error: load error: ...\nsrc/x.rego:3: rego_parse_error: ..." on stdout; keep
      // OPA's file:row text, minus our temporary directory.
      const text = `${stdout}${stderr}`.trim() || err.message;
      reject(new CompileError(text.split(`${cwd}/src/`).join('').replace(/^error: /, '')));
      return;
    });
  });
}
