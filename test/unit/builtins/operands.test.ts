// Operand type errors: values of the wrong type reach builtins at run time (from input), where Go
// OPA's operand checks fail the call. Each case runs through `opa eval` with the same input, so the
// expected outcome is Go OPA's.
import { beforeAll, describe, expect, it } from 'vitest';
import { call, opaEval, type BuiltinValue } from './harness.js';

type Case = [name: string, fn: string, args: BuiltinValue[]];

const CASES: Case[] = [
  ['crypto.sha256 of a number', 'crypto.sha256', [1]],
  ['crypto.hmac.sha256 with a null key', 'crypto.hmac.sha256', ['m', null]],
  ['crypto.hmac.equal of a number', 'crypto.hmac.equal', [1, 'x']],
  ['hex.encode of an array', 'hex.encode', [['a']]],
  ['urlquery.encode_object with a number value', 'urlquery.encode_object', [{ a: 1 }]],
  ['urlquery.encode_object with a non-string array element', 'urlquery.encode_object', [{ a: ['x', 1] }]],
  ['urlquery.encode_object of a string', 'urlquery.encode_object', ['a=b']],
  ['sprintf with a string instead of an argument array', 'sprintf', ['%s', 'x']],
  ['sprintf with a number format', 'sprintf', [1, []]],
  ['semver.is_valid of a number', 'semver.is_valid', [1]],
  ['semver.compare of a number', 'semver.compare', [1, '1.0.0']],
  ['units.parse of a number', 'units.parse', [5]],
  ['time.format of a string', 'time.format', ['now']],
  ['time.format of an empty array', 'time.format', [[]]],
  ['time.date with a numeric zone', 'time.date', [[0, 5]]],
  ['time.add_date with a fractional year', 'time.add_date', [0, 1.5, 0, 0]],
  ['time.parse_ns with a number layout', 'time.parse_ns', [1, '2020']],
  ['io.jwt.decode of a number', 'io.jwt.decode', [1]],
  ['io.jwt.decode_verify with array constraints', 'io.jwt.decode_verify', ['a.b.c', []]],
  ['io.jwt.verify_hs256 with a numeric secret', 'io.jwt.verify_hs256', ['a.b.c', 1]],
  ['yaml.is_valid of a number', 'yaml.is_valid', [1]],
  ['yaml.unmarshal of a number', 'yaml.unmarshal', [1]],
  ['uuid.parse of a number', 'uuid.parse', [1]],
];

describe('builtins given operands of the wrong type behave as in opa eval 1.19.1', () => {
  const theirs = new Map<string, BuiltinValue | undefined>();
  beforeAll(() => {
    for (const [name, fn, args] of CASES) {
      const params = args.map((_, i) => `input[${i}]`).join(', ');
      theirs.set(name, opaEval(`${fn}(${params})`, args));
    }
  }, 60_000);

  it.each(CASES)('%s', (name, fn, args) => {
    expect(call(fn, args)).toEqual(theirs.get(name));
  });
});
