// yaml.marshal / yaml.unmarshal / yaml.is_valid (go-yaml v2 through sigs.k8s.io/yaml)
// Every expected value below was produced by Go OPA 1.19.1: `opa eval -f json '<name>(<args>)'`
// (undefined: OPA had no result because the builtin failed, which the engine reproduces).
import { describe, expect, it } from 'vitest';
import { call, type BuiltinValue } from './harness.js';

type Case = [label: string, name: string, args: BuiltinValue[], expected: BuiltinValue | undefined];

const CASES: Case[] = [
  ["marshal mapping with quoting rules", "yaml.marshal", [{ "b": [1, 2, { "c": "yes" }], "a": "1.5", "d": null, "e": 1.5, "f": "", "g": "multi\nline", "h": true, "i": "on", "k": {  }, "l": [], "m": "a: b", "n": "-x", "o": " lead", "p": "0777", "q": "~", "r": "null", "u": "é" }], "a: \"1.5\"\nb:\n- 1\n- 2\n- c: \"yes\"\nd: null\ne: 1.5\nf: \"\"\ng: |-\n  multi\n  line\nh: true\ni: \"on\"\nk: {}\nl: []\nm: 'a: b'\n\"n\": -x\no: ' lead'\np: \"0777\"\nq: \"~\"\nr: \"null\"\nu: é\n"],
  ["marshal indicators and special characters", "yaml.marshal", [{ "a": [[1, 2], { "x": { "y": [] } }], "b": "x\ny\n", "c": "trailing ", "d": "#c", "e": "a#b", "h": "- a", "i": "@x", "k": "x: ", "l": "Yes", "m": "1_000", "n": "2001-12-14", "o": "\t", "p": "a\"b", "q": "it's", "r": "*a", "v": "a\u0001" }], "a:\n- - 1\n  - 2\n- x:\n    \"y\": []\nb: |\n  x\n  y\nc: 'trailing '\nd: '#c'\ne: a#b\nh: '- a'\ni: '@x'\nk: 'x: '\nl: \"Yes\"\nm: \"1_000\"\n\"n\": \"2001-12-14\"\no: \"\\t\"\np: a\"b\nq: it's\nr: '*a'\nv: \"a\\x01\"\n"],
  ["marshal top-level string with newline", "yaml.marshal", ["a\nb"], "|-\n  a\n  b\n"],
  ["marshal folds long plain lines at 80 columns", "yaml.marshal", [{ "a": "word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word" }], "a: word word word word word word word word word word word word word word word word\n  word word word word word word word word word word word word word word\n"],
  ["marshal literal block chomping", "yaml.marshal", [{ "a": " x\ny", "b": "x\n", "c": "x\n\n", "d": "\n", "e": "x \ny", "f": "a\n\nb" }], "a: |2-\n   x\n  y\nb: |\n  x\nc: |+\n  x\n\nd: |2+\n\ne: \"x \\ny\"\nf: |-\n  a\n\n  b\n"],
  ["marshal key order is go-yaml natural order", "yaml.marshal", [{ "1": 6, "9": 8, "10": 7, "a10": 1, "a2": 2, "b": 3, "B": 4, "a": 5, "_x": 9, "a02": 10 }], "_x: 9\n\"1\": 6\n\"9\": 8\n\"10\": 7\nB: 4\na: 5\na2: 2\na02: 10\na10: 1\nb: 3\n"],
  ["marshal multi-line key", "yaml.marshal", [{ "x\ny": 1, "m": [{ "a": 1, "b": [1, 2] }] }], "m:\n- a: 1\n  b:\n  - 1\n  - 2\n? |-\n  x\n  y\n: 1\n"],
  ["marshal scalars that would resolve to other types", "yaml.marshal", [["", "-", "a:b", "x #y", "---", "=", "0.5", "1e3", "+1", "12:30", "190:20:30", "true", "y", "off", "null", "nan", ".inf"]], "- \"\"\n- '-'\n- a:b\n- 'x #y'\n- '---'\n- =\n- \"0.5\"\n- \"1e3\"\n- \"+1\"\n- \"12:30\"\n- \"190:20:30\"\n- \"true\"\n- \"y\"\n- \"off\"\n- \"null\"\n- nan\n- \".inf\"\n"],
  ["marshal numbers", "yaml.marshal", [[1, -2, 1.5, 1e+21, 0.000001, 12345678901234567890n]], "- 1\n- -2\n- 1.5\n- 1e+21\n- 1e-06\n- 12345678901234567890\n"],
  ["unmarshal YAML 1.1 booleans and keys", "yaml.unmarshal", ["a: y\nb: NO\nc: 1e3\nd: 190:20:30\n1: x\ntrue: y\n"], { "1": "x", "a": true, "b": false, "c": 1000, "d": "190:20:30", "true": true }],
  ["unmarshal merge keys", "yaml.unmarshal", ["x: &a {k: 1}\nw:\n  <<: *a\n  z: 2\n"], { "w": { "k": 1, "z": 2 }, "x": { "k": 1 } }],
  ["unmarshal integers in every base", "yaml.unmarshal", ["a: 0777\nb: 0x1F\nc: 0b101\nd: 0o17\ne: 1_000\nf: +5\ng: 08\nh: 12345678901234567890\n"], { "a": 511, "b": 31, "c": 5, "d": 15, "e": 1000, "f": 5, "g": 8, "h": 12345678901234567890n }],
  ["unmarshal floats, timestamps, strings", "yaml.unmarshal", ["a: .5\nb: 1.5e+3\nc: 10.\nd: 2001-12-14\ne: 0.5.1\nf: 1e400\ng: !!str 1\nh: \"\\u00e9\"\ni: |\n  x\n  y\n"], { "a": 0.5, "b": 1500, "c": 10, "d": "2001-12-14", "e": "0.5.1", "f": "1e400", "g": "1", "h": "é", "i": "x\ny\n" }],
  ["unmarshal only first document", "yaml.unmarshal", ["a: 1\n---\nb: 2\n"], { "a": 1 }],
  ["unmarshal empty document", "yaml.unmarshal", [""], null],
  ["unmarshal duplicate keys last wins", "yaml.unmarshal", ["{a: 1, a: 2}"], { "a": 2 }],
  ["unmarshal binary", "yaml.unmarshal", ["a: !!binary aGVsbG8="], { "a": "hello" }],
  ["unmarshal float keys", "yaml.unmarshal", ["1.5: x\n1e3: z\n"], { "1000": "z", "1.5": "x" }],
  ["unmarshal bad yaml '[1, 2'", "yaml.unmarshal", ["a: [1, 2"], undefined],
  ["unmarshal .nan (not JSON)", "yaml.unmarshal", ["a: .nan"], undefined],
  ["unmarshal .inf (not JSON)", "yaml.unmarshal", ["a: .inf"], undefined],
  ["unmarshal null key", "yaml.unmarshal", ["null: x"], undefined],
  ["unmarshal sequence key", "yaml.unmarshal", ["? [1,2]\n: x"], undefined],
  ["is_valid good", "yaml.is_valid", ["a: [1, 2]"], true],
  ["is_valid bad yaml 'a: ['", "yaml.is_valid", ["a: ["], false],
  ["is_valid null key (valid YAML, not JSON)", "yaml.is_valid", ["null: x"], false],
];

describe('yaml builtins match opa eval 1.19.1', () => {
  it.each(CASES)('%s', (_label, name, args, expected) => {
    expect(call(name, args)).toEqual(expected);
  });
});
