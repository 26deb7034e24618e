// Builtin results as the engine writes them into a policy: the module's own parser (opa_value_parse) must
// read back exactly the value Go OPA holds for the same Rego literal (sets stay sets, big integers and
// number texts stay exact, strings keep every character).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readWasmBundle } from '../../../src/engine/bundle.js';
import { RegoNumber, RegoSet, type BuiltinResult } from '../../../src/engine/builtins/values.js';
import { parseRegoValue, regoValueText } from '../../../src/engine/json.js';
import { opaBinary } from './harness.js';

interface Exports {
  opa_malloc(n: number): number;
  opa_value_parse(addr: number, len: number): number;
  opa_json_dump(addr: number): number;
  opa_value_dump(addr: number): number;
}

/** [what, value as a builtin returns it, the same value as a Rego literal for opa eval] */
const CASES: Array<[string, BuiltinResult, string]> = [
  ['a set of mixed kinds', new RegoSet(['b', 1, 'a', null, [2], { k: true }]), '{"b", 1, "a", null, [2], {"k": true}}'],
  ['an empty set', new RegoSet([]), 'set()'],
  ['sets nested in objects and arrays', { s: [new RegoSet([3, 1]), new RegoSet([new RegoSet(['x'])])] }, '{"s": [{3, 1}, {{"x"}}]}'],
  ['an integer beyond 2^64', 123456789012345678901234567890n, '123456789012345678901234567890'],
  ['number texts Go keeps', [new RegoNumber('1e21'), new RegoNumber('1.50'), new RegoNumber('-0')], '[1e21, 1.50, -0]'],
  ['a big integer inside a set', new RegoSet([18446744073709551617n, 1]), '{18446744073709551617, 1}'],
  ['strings with escapes, controls and non-BMP characters', ['a"b\\c', '\u0007\u001f\n\t', 'é😀\u2028', '<&>'], '["a\\"b\\\\c", "\\u0007\\u001f\\n\\t", "é😀\\u2028", "<&>"]'],
  ['plain JSON', { a: [1, 2.5, false], b: { c: null } }, '{"a": [1, 2.5, false], "b": {"c": null}}'],
];

describe('builtin results written with the module\'s opa_value_parse', () => {
  let ex: Exports;
  let memory: WebAssembly.Memory;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-results-'));
    const rego = join(dir, 'p.rego');
    const bundle = join(dir, 'bundle.tar.gz');
    writeFileSync(rego, 'package t\n\nr := sprintf("%v", [input])\n');
    execFileSync(opaBinary(), ['build', '-t', 'wasm', '-e', 't/r', '-o', bundle, rego], { stdio: 'pipe' });
    memory = new WebAssembly.Memory({ initial: 5 });
    const fail = (): never => {
      throw new Error('not called');
    };
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readWasmBundle(readFileSync(bundle)).wasm), {
      env: { memory, opa_abort: fail, opa_println: fail, opa_builtin0: fail, opa_builtin1: fail, opa_builtin2: fail, opa_builtin3: fail, opa_builtin4: fail },
    });
    ex = instance.exports as unknown as Exports;
  }, 60_000);

  const text = (addr: number): string => {
    const heap = new Uint8Array(memory.buffer);
    return new TextDecoder().decode(heap.subarray(addr, heap.indexOf(0, addr)));
  };
  const parse = (value: BuiltinResult): number => {
    const bytes = new TextEncoder().encode(regoValueText(value));
    const at = ex.opa_malloc(bytes.length);
    new Uint8Array(memory.buffer, at, bytes.length).set(bytes);
    return ex.opa_value_parse(at, bytes.length);
  };

  it.each(CASES)('%s', (_what, value, literal) => {
    const addr = parse(value);
    expect(addr).not.toBe(0);
    // The value the module holds (sets included) is the literal as Go OPA reads it.
    expect(parseRegoValue(text(ex.opa_value_dump(addr)))).toEqual(parseRegoValue(literal));
    // Its JSON equals Go OPA's JSON of the literal; sets become arrays in the module's own iteration
    // order there, so they are compared as sets.
    expect(unorderSets(parseRegoValue(text(ex.opa_json_dump(addr))), value)).toEqual(unorderSets(opaJson(literal), value));
  });

  it('writes sets in Rego syntax and plain JSON unchanged', () => {
    expect(regoValueText(new RegoSet([2, 1]))).toBe('{1,2}');
    expect(regoValueText(new RegoSet([]))).toBe('set()');
    expect(regoValueText({ a: [1, 'x'] })).toBe('{"a":[1,"x"]}');
    expect(regoValueText(2n ** 70n)).toBe('1180591620717411303424');
  });
});

/** Arrays that stand for sets of `shape`, sorted, so that two JSON renderings of the same set compare equal. */
function unorderSets(json: unknown, shape: BuiltinResult): unknown {
  if (shape instanceof RegoSet && Array.isArray(json)) return new RegoSet(json.map((m, i) => unorderSets(m, shape.members[i] as BuiltinResult) as BuiltinResult));
  if (Array.isArray(shape) && Array.isArray(json)) return json.map((m, i) => unorderSets(m, shape[i] as BuiltinResult));
  if (typeof shape === 'object' && shape !== null && !(shape instanceof RegoNumber) && !Array.isArray(shape) && !(shape instanceof RegoSet) && typeof json === 'object' && json !== null) {
    return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, unorderSets(v, (shape as Record<string, BuiltinResult>)[k] as BuiltinResult)]));
  }
  return json;
}

/** `opa eval -f raw` of a literal: Go OPA's exact JSON of the value (sets as sorted arrays), read back exactly. */
function opaJson(literal: string): unknown {
  return parseRegoValue(execFileSync(opaBinary(), ['eval', '-f', 'raw', literal], { encoding: 'utf8' }).trim());
}
