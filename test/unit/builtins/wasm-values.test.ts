// Host builtin arguments as a policy compiled by `opa build -t wasm` hands them over (opa_value_dump text:
// sets, number literal texts), compared with Go OPA 1.19.1 (`opa eval`) evaluating the same Rego on the
// same input: every key must be equal, or absent in both.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readWasmBundle } from '../../../src/engine/bundle.js';
import { RegoNumber, RegoSet } from '../../../src/engine/builtins/values.js';
import { parseRegoValue } from '../../../src/engine/json.js';
import { WasmPolicy } from '../../../src/engine/wasm.js';
import { opaBinary, opaEval, type BuiltinValue } from './harness.js';

const POLICY = `package t

r["sprintf_number_text"] := sprintf("%v %v %g %d", [1e300, 1e-7, 1e21, 2.0])
r["sprintf_set"] := sprintf("%v", [{"b", input.int, "a"}])
r["sprintf_set_of_kinds"] := sprintf("%v", [{-0, 1.0, 1e21, "x", [1.50], {"k": 12345678901234567890}, null, false, set()}])
r["sprintf_nested_sets"] := sprintf("%v", [[{"b": {3, 1, 2}, "a": set()}, {{1}, {0, 5}}]])
r["sprintf_arithmetic"] := sprintf("%v %d %v", [input.half * 2, input.half * 2, 0.1 + 0.2])
r["sprintf_input_numbers"] := sprintf("%v %d %v %T", [input.half, input.int, input.list, input.half])
r["sprintf_comprehension"] := sprintf("%v", [{x | some x in input.strs}])
r["sprintf_string_like_set"] := sprintf("%s", ["{1, 2} set() 1.0"])
r["urlquery_set"] := urlquery.encode_object({"z": {"b", "a", "c"}, "a": input.strs, "e": set()})
r["yaml_set_and_texts"] := yaml.marshal({"s": {3, "a", 1.0}, "n": [1e21, 1.50, -0]})
r["time_text"] := time.format([1.7e18, "UTC"])
r["time_input"] := time.date(input.ns)
r["time_fraction"] := time.format(1.5)
r["add_date_float_months"] := time.add_date(0, 1.0, 0, 0)
r["yaml_non_string_keys"] := yaml.marshal(object.get({}, "k", {1: "a", [1, {2}]: "b", ["<"]: "c", 2.50: "d"}))
r["urlquery_non_string_keys"] := urlquery.encode_object(object.get({}, "k", {1: "a", ["<"]: "b"}))
`;

const INPUT = { int: 42, half: 1.5, list: [1, 'two', false], strs: ['y', 'x'], ns: 1700000000000000000 };

describe('builtin arguments read from a WebAssembly policy match opa eval 1.19.1', () => {
  let ours: Record<string, unknown>;
  let theirs: Record<string, unknown>;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-values-'));
    const rego = join(dir, 'policy.rego');
    const bundle = join(dir, 'bundle.tar.gz');
    writeFileSync(rego, POLICY);
    execFileSync(opaBinary(), ['build', '-t', 'wasm', '-e', 't/r', '-o', bundle, rego], { stdio: 'pipe' });
    const policy = WasmPolicy.load(readWasmBundle(readFileSync(bundle)).wasm, {}, { decision: 't/r', maxMemoryPages: 2048 });
    expect(policy.hostBuiltins).toEqual(expect.arrayContaining(['sprintf', 'urlquery.encode_object', 'yaml.marshal', 'time.format']));
    ours = policy.evaluate(INPUT) as Record<string, unknown>;
    theirs = opaEval('data.t.r', INPUT, [rego]) as Record<string, unknown>;
  }, 60_000);

  it.each(POLICY.match(/^r\["\w+"\]/gm)!.map((m) => m.slice(3, -2)))('%s', (key) => {
    expect(ours[key]).toEqual(theirs[key]);
    expect(key in ours).toBe(key in theirs);
  });

  it('the reference leaves out exactly the calls with bad arguments (so that equality means something)', () => {
    const absent = (POLICY.match(/^r\["\w+"\]/gm) ?? []).map((m) => m.slice(3, -2)).filter((k) => !(k in theirs));
    expect(absent.sort()).toEqual(['add_date_float_months', 'time_fraction']);
  });
});

describe('parseRegoValue', () => {
  it('reads sets as RegoSet with members in Go OPA order, as opa_value_dump writes them', () => {
    // Go OPA prints {"b", 42, "a"} as {42, "a", "b"}.
    const [set, empty, obj] = parseRegoValue('[{"b", 42, "a"}, set(), {"k": {1}}]') as BuiltinValue[];
    expect(set).toBeInstanceOf(RegoSet);
    expect((set as RegoSet).members).toEqual([42, 'a', 'b']);
    expect((empty as RegoSet).members).toEqual([]);
    expect(((obj as Record<string, BuiltinValue>)['k'] as RegoSet).members).toEqual([1]);
  });

  it('keeps the text of numbers that do not print back as written, and the digits of big integers', () => {
    expect(parseRegoValue('[1.0, 1e21, -0, 1.50, 1.5, 7, 12345678901234567890]')).toEqual([
      new RegoNumber('1.0'),
      new RegoNumber('1e21'),
      new RegoNumber('-0'),
      new RegoNumber('1.50'),
      1.5,
      7,
      12345678901234567890n,
    ]);
  });

  it.each([
    ['a set missing its closing brace', '{"a", "b"'],
    ['an object missing a value', '{"a": }'],
    ['a bare word', 'nope'],
    ['trailing text after a value', '[1] 2'],
  ])('rejects bad text: %s', (_label, text) => {
    expect(() => parseRegoValue(text)).toThrow(SyntaxError);
  });
});
