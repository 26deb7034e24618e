// base64url.encode_no_pad, hex.*, urlquery.*
// Every expected value below was produced by Go OPA 1.19.1: `opa eval -f json '<name>(<args>)'`
// (undefined: OPA had no result because the builtin failed, which the engine reproduces).
import { describe, expect, it } from 'vitest';
import { call, type BuiltinValue } from './harness.js';

type Case = [label: string, name: string, args: BuiltinValue[], expected: BuiltinValue | undefined];

const CASES: Case[] = [
  ["base64url.encode_no_pad of ascii", "base64url.encode_no_pad", ["hello?>"], "aGVsbG8_Pg"],
  ["base64url.encode_no_pad of utf-8", "base64url.encode_no_pad", ["ünïcode"], "w7xuw69jb2Rl"],
  ["base64url.encode_no_pad of empty string", "base64url.encode_no_pad", [""], ""],
  ["hex.encode of utf-8", "hex.encode", ["hé"], "68c3a9"],
  ["hex.decode lower and upper case", "hex.decode", ["48656C6c6f"], "Hello"],
  ["hex.decode of invalid char 'zz'", "hex.decode", ["zz"], undefined],
  ["hex.decode of odd length 'abc'", "hex.decode", ["abc"], undefined],
  ["hex.decode of empty string", "hex.decode", [""], ""],
  ["urlquery.encode escapes reserved bytes", "urlquery.encode", ["a b&c=d/é~-._*!'()"], "a+b%26c%3Dd%2F%C3%A9~-._%2A%21%27%28%29"],
  ["urlquery.decode plus and percent escapes", "urlquery.decode", ["a+b%26c%3Dd%2F%C3%A9"], "a b&c=d/é"],
  ["urlquery.decode of bad escape '%zz'", "urlquery.decode", ["a%zz"], undefined],
  ["urlquery.decode of truncated escape '%4'", "urlquery.decode", ["a%4"], undefined],
  ["urlquery.encode_object sorts keys, repeats arrays", "urlquery.encode_object", [{ "b": "x y", "a": ["1", "2"], "é": "&" }], "a=1&a=2&b=x+y&%C3%A9=%26"],
  ["urlquery.encode_object of empty object", "urlquery.encode_object", [{  }], ""],
  ["urlquery.decode_object groups repeated keys", "urlquery.decode_object", ["a=1&b=2&a=3&c&=x&d=%20"], { "": ["x"], "a": ["1", "3"], "b": ["2"], "c": [""], "d": [" "] }],
  ["urlquery.decode_object of empty string", "urlquery.decode_object", [""], {  }],
  ["urlquery.decode_object with semicolon separator", "urlquery.decode_object", ["a=1;b=2"], undefined],
  ["urlquery.decode_object with bad escape '%g0'", "urlquery.decode_object", ["a=%g0"], undefined],
];

describe('encoding builtins match opa eval 1.19.1', () => {
  it.each(CASES)('%s', (_label, name, args, expected) => {
    expect(call(name, args)).toEqual(expected);
  });
});
