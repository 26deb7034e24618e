// Test helpers for the host builtins: call one with OPA's error-means-undefined rule, and run the
// real Go OPA (`opa eval`) on the same inputs for differential checks.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuiltinError, createHostBuiltins, type BuiltinValue, type HostBuiltins } from '../../../src/engine/builtins/index.js';
import { parseJson } from '../../../src/engine/builtins/json.js';

export type { BuiltinValue };

/** Calls a builtin as the engine does: a BuiltinError is OPA's non-strict "undefined". */
export function call(name: string, args: BuiltinValue[], host: HostBuiltins = createHostBuiltins()): BuiltinValue | undefined {
  const fn = host.table.get(name);
  if (fn === undefined) throw new Error(`no host builtin ${name}`);
  try {
    return fn(...args);
  } catch (e) {
    if (e instanceof BuiltinError) return undefined;
    throw e;
  }
}

const REPO_OPA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../.tools/bin/opa');

/** The Go OPA binary: the project's tools folder, else PATH. Missing is a test failure, never a skip. */
export function opaBinary(): string {
  if (existsSync(REPO_OPA)) return REPO_OPA;
  const which = spawnSync('sh', ['-c', 'command -v opa'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  if (which.status === 0 && found !== '') return found;
  throw new Error(`Go OPA not found at ${REPO_OPA} nor on PATH: run scripts/install-tools.sh opa`);
}

function bigintJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `@@${x.toString()}@@` : x)).replace(/"@@(-?\d+)@@"/g, '$1');
}

/** `opa eval` of a query with the given input (and Rego/data files); undefined when OPA has no result. */
export function opaEval(query: string, input: unknown, files: string[] = []): BuiltinValue | undefined {
  const r = spawnSync(opaBinary(), ['eval', '-f', 'json', '--stdin-input', ...files.flatMap((f) => ['-d', f]), query], { input: bigintJson(input), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0 && r.stdout === '') throw new Error(`opa eval failed: ${r.stderr}`);
  const out = parseJson(r.stdout) as { errors?: unknown; result?: Array<{ expressions: Array<{ value: BuiltinValue }> }> };
  if (out.errors !== undefined) throw new Error(`opa eval error: ${JSON.stringify(out.errors)}`);
  return out.result?.[0]?.expressions[0]?.value;
}
