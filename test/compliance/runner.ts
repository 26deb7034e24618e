// OPA's own compliance cases (v1/test/cases/testdata/v1 of the opa module in the Go module cache), run
// the way OPA's WASM SDK runs them (internal/wasm/sdk/test/e2e/external_test.go): the case's modules and
// query compiled by the real `opa build -t wasm`, evaluated by this project's engine with the case's data
// and input, and judged by that runner's rules.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readWasmBundle } from '../../src/engine/bundle.js';
import { parseGoDuration } from '../../src/engine/builtins/gotime.js';
import { RegoNumber, RegoSet, compareValues, stringOperand, type BuiltinFn, type BuiltinValue } from '../../src/engine/builtins/values.js';
import { parseRegoValue } from '../../src/engine/json.js';
import { EvaluationError, WasmPolicy } from '../../src/engine/wasm.js';
import { pinnedOpaVersion } from '../../scripts/host-builtins.mjs';

const OPA_VERSION = pinnedOpaVersion();

export interface ComplianceCase {
  /** The file, relative to the cases directory. */
  file: string;
  note: string;
  query: string;
  modules: string[];
  data?: Record<string, unknown>;
  input?: unknown;
  input_term?: string;
  want_defined?: boolean;
  want_result?: Array<Record<string, unknown>>;
  want_error_code?: string;
  want_error?: string;
  sort_bindings?: boolean;
  strict_error?: boolean;
  env?: Record<string, string>;
}

/** Every case under v1/test/cases/testdata/v1, in OPA's order (by note). */
export function loadCases(opaDir: string): ComplianceCase[] {
  const root = join(opaDir, 'v1', 'test', 'cases', 'testdata', 'v1');
  const out: ComplianceCase[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const doc = parseYaml(readFileSync(path, 'utf8')) as { cases?: Array<Omit<ComplianceCase, 'file'>> } | null;
        for (const c of doc?.cases ?? []) out.push({ ...c, modules: c.modules ?? [], file: relative(root, path) });
      }
    }
  };
  walk(root);
  return out.sort((a, b) => (a.note < b.note ? -1 : a.note > b.note ? 1 : 0));
}

/** OPA's WASM SDK test exclusions (note -> reason); a note with `*` is a glob over `/`-separated parts. */
export function loadExceptions(opaDir: string): { file: string; reasonFor(note: string): string | undefined } {
  const file = join(opaDir, 'internal', 'wasm', 'sdk', 'test', 'e2e', 'exceptions.yaml');
  const exceptions = parseYaml(readFileSync(file, 'utf8')) as Record<string, string>;
  const globs = Object.entries(exceptions)
    .filter(([pattern]) => pattern.includes('*'))
    .map(([pattern, reason]) => [globRegExp(pattern), reason] as const);
  return {
    file,
    reasonFor(note) {
      if (Object.hasOwn(exceptions, note)) return exceptions[note];
      return globs.find(([re]) => re.test(note))?.[1];
    },
  };
}

/** gobwas/glob with separator '/': `*` stays within a part, `**` crosses parts. */
function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*' && pattern.charAt(i + 1) === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Whether the case's Rego names one of `builtins` as a call (the compiled module has the final word). */
export function mayCallAny(c: ComplianceCase, builtins: readonly string[]): boolean {
  const text = [...c.modules, c.query].join('\n');
  return builtins.some((name) => callPattern(name).test(text));
}

const callPatterns = new Map<string, RegExp>();
function callPattern(name: string): RegExp {
  let re = callPatterns.get(name);
  if (!re) {
    re = new RegExp(`(?<![\\w.])${name.replace(/\./g, '\\.')}\\s*\\(`);
    callPatterns.set(name, re);
  }
  return re;
}

// ---- the query as an entrypoint -----------------------------------------------------------------

const WRAPPER_PACKAGE = 'kmesh_compliance';
export const ENTRYPOINT = `${WRAPPER_PACKAGE}/results`;
const KEYWORDS = new Set(['not', 'some', 'with', 'as', 'in', 'every', 'if', 'contains', 'else', 'default', 'true', 'false', 'null', 'data', 'input', 'set', 'import', 'package', '_']);

/**
 * The variables a query binds, which OPA's query compiler returns as the result's bindings: names that
 * are not keywords, not a call's operator, and not a later part of a ref. A wrong guess cannot pass
 * silently: a name that is not a variable fails to compile ("unsafe"), a missing one changes the result.
 */
export function queryVars(query: string): string[] {
  const code = query.replace(/"(?:[^"\\]|\\.)*"|`[^`]*`|#.*$/gm, '""');
  const vars = new Set<string>();
  for (const m of code.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) {
    const name = m[0];
    const at = m.index;
    const before = code.slice(0, at).trimEnd();
    const after = code.slice(at + name.length);
    if (KEYWORDS.has(name) || before.endsWith('.') || before.endsWith('$')) continue;
    if (/^\s*\(/.test(after) || /^(?:\.[A-Za-z_]\w*)+\s*\(/.test(after)) continue;
    vars.add(name);
  }
  return [...vars];
}

/** A module whose partial set rule `results` holds one object of bindings per solution of the query. */
export function wrapperModule(query: string): string {
  const bindings = queryVars(query).map((v) => `${JSON.stringify(v)}: ${v}`).join(', ');
  return `package ${WRAPPER_PACKAGE}\n\nresults contains {${bindings}} if {\n${query}\n}\n`;
}

// ---- compilation, cached by content ---------------------------------------------------------------

export type Compiled = { wasm: Uint8Array; hostBuiltins: string[] } | { error: string };

/** Builds every case's module with `opa build -t wasm` (a few at a time), reusing `.cache/` by content hash. */
export async function compileAll(cases: ComplianceCase[], opa: string, cacheDir: string): Promise<Map<ComplianceCase, Compiled>> {
  mkdirSync(cacheDir, { recursive: true });
  const capabilities = writeCapabilities(opa, cacheDir);
  const out = new Map<ComplianceCase, Compiled>();
  const queue = [...cases];
  const worker = async (): Promise<void> => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) out.set(c, await compileCase(c, opa, cacheDir, capabilities));
  };
  await Promise.all(Array.from({ length: Math.max(2, availableParallelism()) }, worker));
  return out;
}

/**
 * OPA's runner registers one builtin of its own, test.sleep(duration) (addTestSleepBuiltin); its cases
 * compile against OPA's capabilities plus that declaration, and evaluate with it on the host.
 */
function writeCapabilities(opa: string, cacheDir: string): { path: string; text: string } {
  const caps = JSON.parse(execFileSync(opa, ['capabilities', '--current'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { builtins: unknown[] };
  caps.builtins.push({ name: 'test.sleep', decl: { type: 'function', args: [{ type: 'string' }], result: { type: 'null' } } });
  const text = JSON.stringify(caps);
  const path = join(cacheDir, `capabilities-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.json`);
  if (!existsSync(path)) writeFileSync(path, text);
  return { path, text };
}

export const RUNNER_BUILTINS: ReadonlyMap<string, BuiltinFn> = new Map<string, BuiltinFn>([
  [
    'test.sleep',
    (d) => {
      const ms = Number(parseGoDuration(stringOperand(d, 1)) / 1_000_000n);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      return null;
    },
  ],
]);

async function compileCase(c: ComplianceCase, opa: string, cacheDir: string, runnerCapabilities: { path: string; text: string }): Promise<Compiled> {
  const wrapper = wrapperModule(c.query);
  // Only the cases that call the runner's own builtin need its capabilities; the rest build as users' do.
  const capabilities = mayCallAny(c, [...RUNNER_BUILTINS.keys()]) ? runnerCapabilities : undefined;
  const hash = createHash('sha256').update(`${OPA_VERSION}\0${capabilities ? `${capabilities.text}\0` : ''}${wrapper}`);
  for (const m of c.modules) hash.update(`\0${m}`);
  const base = join(cacheDir, hash.digest('hex'));
  if (existsSync(`${base}.wasm`)) return withBuiltins(readFileSync(`${base}.wasm`));
  if (existsSync(`${base}.err`)) return { error: readFileSync(`${base}.err`, 'utf8') };
  const result = await build(c, wrapper, opa, capabilities?.path);
  const partial = `${base}.${process.pid}.tmp`;
  if ('wasm' in result) writeFileSync(partial, result.wasm);
  else writeFileSync(partial, result.error);
  renameSync(partial, 'wasm' in result ? `${base}.wasm` : `${base}.err`);
  return 'wasm' in result ? withBuiltins(result.wasm) : result;
}

async function build(c: ComplianceCase, wrapper: string, opa: string, capabilities: string | undefined): Promise<{ wasm: Uint8Array } | { error: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kmesh-opa-compliance-'));
  try {
    const files = [join(dir, 'wrapper.rego'), ...c.modules.map((_, i) => join(dir, `module-${i}.rego`))];
    await Promise.all([writeFile(files[0]!, wrapper), ...c.modules.map((m, i) => writeFile(files[i + 1]!, m))]);
    const bundle = join(dir, 'bundle.tar.gz');
    const error = await new Promise<string | undefined>((resolve) => {
      execFile(opa, ['build', '-t', 'wasm', ...(capabilities ? ['--capabilities', capabilities] : []), '-e', ENTRYPOINT, '-o', bundle, ...files], { cwd: dir, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        resolve(err ? `${stdout}${stderr}`.split(`${dir}/`).join('').trim() || err.message : undefined);
      });
    });
    if (error !== undefined) return { error };
    return { wasm: readWasmBundle(readFileSync(bundle)).wasm };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The builtins the module imports from its host, read from its own `builtins()` export. */
function withBuiltins(wasm: Uint8Array): Compiled {
  const memory = new WebAssembly.Memory({ initial: 5 });
  const unused = (): never => {
    throw new Error('not evaluated here');
  };
  const env = { memory, opa_abort: unused, opa_println: unused, opa_builtin0: unused, opa_builtin1: unused, opa_builtin2: unused, opa_builtin3: unused, opa_builtin4: unused };
  const exports = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env }).exports as { builtins(): number; opa_json_dump(a: number): number };
  const at = exports.opa_json_dump(exports.builtins());
  const heap = new Uint8Array(memory.buffer);
  const text = new TextDecoder().decode(heap.subarray(at, heap.indexOf(0, at)));
  return { wasm, hostBuiltins: Object.keys(JSON.parse(text) as object).sort() };
}

// ---- evaluation and OPA's verdict ---------------------------------------------------------------

/** Evaluates a compiled case with this engine; returns why it fails, or undefined when it passes. */
export function judge(c: ComplianceCase, compiled: Compiled): string | undefined {
  if ('error' in compiled) return `opa build failed: ${compiled.error}`;
  const wantsError = c.want_error_code !== undefined || c.want_error !== undefined;
  let results: unknown;
  let error: string | undefined;
  const restoreEnv = setEnv(c.env);
  try {
    const policy = WasmPolicy.load(compiled.wasm, c.data ?? {}, { decision: ENTRYPOINT, maxMemoryPages: 65536, extraBuiltins: RUNNER_BUILTINS });
    results = policy.evaluate(caseInput(c));
  } catch (err) {
    if (!(err instanceof EvaluationError)) return `${(err as Error).name}: ${(err as Error).message}`;
    error = err.message;
  } finally {
    restoreEnv();
  }
  if (c.want_defined !== undefined && c.want_result === undefined) {
    if (error !== undefined) return `unexpected error: ${error}`;
    const defined = Array.isArray(results) && results.length > 0;
    return defined === c.want_defined ? undefined : `expected ${c.want_defined ? 'defined' : 'undefined'}, got ${show(results)}`;
  }
  if (c.want_result !== undefined) {
    if (error !== undefined) return `unexpected error: ${error}`;
    return sameResultSet(c.want_result, results, c.sort_bindings === true);
  }
  if (wantsError) {
    // WASM has no strict builtin errors: an error only strict mode raises is an empty result there.
    if (c.strict_error === true) {
      if (error !== undefined) return `unexpected error: ${error}`;
      return sameResultSet([], results, false);
    }
    if (error === undefined) return `expected error ${c.want_error_code ?? ''} ${c.want_error ?? ''}, got ${show(results)}`;
    if (c.want_error_code === 'eval_conflict_error') {
      return /var assignment conflict|object insert conflict/.test(error) ? undefined : `expected a conflict error, got: ${error}`;
    }
    return `unmatched error: ${error} (expected ${c.want_error_code ?? c.want_error})`;
  }
  return 'the case states no expectation';
}

function setEnv(env: Record<string, string> | undefined): () => void {
  if (env === undefined) return () => {};
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** input_term is Rego text; the engine takes JSON input, where Go's SDK would hand sets over as arrays too. */
function caseInput(c: ComplianceCase): unknown {
  if (c.input_term !== undefined) return toJson(parseRegoValue(c.input_term));
  return c.input;
}

function toJson(v: BuiltinValue): unknown {
  if (v instanceof RegoSet) return v.members.map(toJson);
  if (v instanceof RegoNumber) return Number(v.text);
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

/** OPA's assertResultSet: both sides as sets of binding objects; with sort_bindings, top-level array bindings sorted. */
function sameResultSet(want: Array<Record<string, unknown>>, got: unknown, sortBindings: boolean): string | undefined {
  if (!Array.isArray(got)) return `expected a result set, got ${show(got)}`;
  const norm = (rows: unknown[]): RegoSet =>
    new RegoSet(
      rows.map((row) =>
        Object.fromEntries(
          Object.entries(row as Record<string, unknown>).map(([k, v]) => {
            const value = toValue(v);
            return [k, sortBindings && Array.isArray(value) ? [...value].sort(compareValues) : value];
          }),
        ),
      ),
    );
  const [w, g] = [norm(want), norm(got)];
  return compareValues(w, g) === 0 ? undefined : `expected ${show(want)}\n     got ${show(got)}`;
}

function toValue(v: unknown): BuiltinValue {
  if (Array.isArray(v)) return v.map(toValue);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toValue(x)]));
  return v as BuiltinValue;
}

function show(v: unknown): string {
  const text = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  return text === undefined ? 'undefined' : text.length > 600 ? `${text.slice(0, 600)}…` : text;
}
