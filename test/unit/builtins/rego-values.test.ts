// Builtins given Rego sets and numbers whose literal text matters (1.0, 1e21, -0), as the engine hands
// them over from the policy's values. Every expected value was produced by Go OPA 1.19.1 with the Rego
// shown in the case: `opa eval -f json '<rego>'` (undefined: OPA had no result because the builtin failed;
// object.get({}, "k", x) hides x's type from the type checker, so that the builtin itself rejects it).
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RegoNumber, RegoSet } from '../../../src/engine/builtins/values.js';
import { call, type BuiltinValue } from './harness.js';

const n = (text: string): RegoNumber => new RegoNumber(text);
const set = (...members: BuiltinValue[]): RegoSet => new RegoSet(members);

type Case = [rego: string, name: string, args: BuiltinValue[], expected: BuiltinValue | undefined];

const SPRINTF: Case[] = [
  ['sprintf("%v %v %g %d", [1e300, 1e-7, 1e21, 2.0])', 'sprintf', ['%v %v %g %d', [n('1e300'), n('1e-7'), n('1e21'), n('2.0')]], '1e300 1e-7 %!g(string=1e21) %!d(float64=2)'],
  [
    'sprintf("%v|%v|%v|%v|%v|%v|%d|%T|%T|%v|%v", [1.0, 1.50, 1e3, -0, 0.0000001, 1E5, 1.0, 1e300, 1.5e3, -0.0, 12345678901234567890.5])',
    'sprintf',
    ['%v|%v|%v|%v|%v|%v|%d|%T|%T|%v|%v', [n('1.0'), n('1.50'), n('1e3'), n('-0'), n('0.0000001'), n('1E5'), n('1.0'), n('1e300'), n('1.5e3'), n('-0.0'), n('12345678901234567890.5')]],
    '1|1.5|1e3|0|1e-07|1E5|%!d(float64=1)|string|float64|-0|1.2345678901234567e+19',
  ],
  ['sprintf("%v|%v|%v", [1.0e-400, 1.0e400, 1e-400]) (float64 underflow and overflow)', 'sprintf', ['%v|%v|%v', [n('1.0e-400'), n('1.0e400'), n('1e-400')]], '0|1.0e400|1e-400'],
  ['sprintf("%d|%T", [1e3, 123456789012345678901234567890])', 'sprintf', ['%d|%T', [n('1e3'), 123456789012345678901234567890n]], '%!d(string=1e3)|*big.Int'],
  ['sprintf("%v", [[1.0, 1e3, -0, 1.50]]) keeps each text', 'sprintf', ['%v', [[n('1.0'), n('1e3'), n('-0'), n('1.50')]]], '[1.0, 1e3, -0, 1.50]'],
  ['sprintf("%v", [{"b", 42, "a"}])', 'sprintf', ['%v', [set('b', 42, 'a')]], '{42, "a", "b"}'],
  ['sprintf("%s|%v|%T", [set(), {set(), {2, 1}}, {1}])', 'sprintf', ['%s|%v|%T', [set(), set(set(), set(2, 1)), set(1)]], 'set()|{set(), {1, 2}}|string'],
  [
    'sprintf("%v", [{null, false, true, 1.5, 3, "x", [1], {"a": 1}, set(), {1, 2}}]) orders kinds',
    'sprintf',
    ['%v', [set({ a: 1 }, 'x', set(1, 2), [1], 3, 1.5, true, set(), false, null)]],
    '{null, false, true, 1.5, 3, "x", [1], {"a": 1}, set(), {1, 2}}',
  ],
  [
    'sprintf("%v", [{10.0, 2, 1.5e0, 0.5, 1e-1, -3, 12345678901234567890, -1e400}]) orders numbers by value',
    'sprintf',
    ['%v', [set(n('10.0'), 2, n('1.5e0'), 0.5, n('1e-1'), -3, 12345678901234567890n, n('-1e400'))]],
    '{-1e400, -3, 1e-1, 0.5, 1.5e0, 2, 10.0, 12345678901234567890}',
  ],
  [
    'sprintf("%v", [{[1, 2], [1], [0, 5], {"b": 1}, {"a": 2}, {"a": 1, "b": 0}}]) orders arrays and objects',
    'sprintf',
    ['%v', [set([1, 2], [1], [0, 5], { b: 1 }, { a: 2 }, { a: 1, b: 0 })]],
    '{[0, 5], [1], [1, 2], {"a": 1, "b": 0}, {"a": 2}, {"b": 1}}',
  ],
  ['sprintf("%v", [{"é", "z", "Z", "", "ab"}]) orders strings by bytes', 'sprintf', ['%v', [set('é', 'z', 'Z', '', 'ab')]], '{"", "Z", "ab", "z", "é"}'],
  ['sprintf("%d", [{1}]) (a set is its text)', 'sprintf', ['%d', [set(1)]], '%!d(string={1})'],
];

const OTHERS: Case[] = [
  ['urlquery.encode_object({"c": {"z", "y", "a b"}, "a": set(), "b": {"x"}})', 'urlquery.encode_object', [{ c: set('z', 'y', 'a b'), a: set(), b: set('x') }], 'b=x&c=a+b&c=y&c=z'],
  ['urlquery.encode_object({"a": object.get({}, "k", {"x", 1})}) (a set with a number)', 'urlquery.encode_object', [{ a: set('x', 1) }], undefined],
  [
    'yaml.marshal({"s": {"b", "a", 1}, "n": [1.0, 1e21, 1.50, 1e-7, 1e3, 2.5e-3, -0]})',
    'yaml.marshal',
    [{ s: set('b', 'a', 1), n: [n('1.0'), n('1e21'), n('1.50'), n('1e-7'), n('1e3'), n('2.5e-3'), n('-0')] }],
    '"n":\n- 1\n- 1e+21\n- 1.5\n- 1e-07\n- 1000\n- 0.0025\n- 0\ns:\n- 1\n- a\n- b\n',
  ],
  ['yaml.marshal({"b", "a"})', 'yaml.marshal', [set('b', 'a')], '- a\n- b\n'],
  ['yaml.marshal(set())', 'yaml.marshal', [set()], '[]\n'],
  ['time.format(1.7e18)', 'time.format', [n('1.7e18')], '2023-11-14T22:13:20Z'],
  ['time.format(1700000000000000000.0)', 'time.format', [n('1700000000000000000.0')], '2023-11-14T22:13:20Z'],
  ['time.format(1.5) (a fraction of a nanosecond)', 'time.format', [n('1.5')], undefined],
  ['time.format(1.0000000000000000000001) (fraction below a 64-bit mantissa)', 'time.format', [n('1.0000000000000000000001')], '1970-01-01T00:00:00.000000001Z'],
  ['time.format(1700000000000000000.5) (half a nanosecond)', 'time.format', [n('1700000000000000000.5')], undefined],
  ['time.format(9.223372036854775807e18) (int64 max)', 'time.format', [n('9.223372036854775807e18')], '2262-04-11T23:47:16.854775807Z'],
  ['time.format(9.2233720368547758075e18) (int64 max and a half)', 'time.format', [n('9.2233720368547758075e18')], undefined],
  ['time.format(-1.5e-400) (tiny negative)', 'time.format', [n('-1.5e-400')], undefined],
  ['time.format(1e400) (beyond float64)', 'time.format', [n('1e400')], undefined],
  ['time.weekday(0.99999999999999999999999) (rounds up to 1)', 'time.weekday', [n('0.99999999999999999999999')], 'Thursday'],
  ['time.date([1.7e18, "UTC"])', 'time.date', [[n('1.7e18'), 'UTC']], [2023, 11, 14]],
  ['time.add_date(1e3, 1, 0, 0)', 'time.add_date', [n('1e3'), 1, 0, 0], 31536000000001000n],
  ['time.add_date(0, 1.0, 0, 0) (months written 1.0)', 'time.add_date', [0, n('1.0'), 0, 0], undefined],
  ['time.add_date(0, 1e0, 0, 0) (months written 1e0)', 'time.add_date', [0, n('1e0'), 0, 0], undefined],
  ['time.diff(1.7e18, 1.6e18)', 'time.diff', [n('1.7e18'), n('1.6e18')], [3, 2, 1, 9, 46, 40]],
  ['time.format(object.get({}, "k", {1})) (a set)', 'time.format', [set(1)], undefined],
  ['semver.is_valid(object.get({}, "k", {"1.0.0"})) (a set)', 'semver.is_valid', [set('1.0.0')], false],
];

describe('builtins given Rego sets and number texts match opa eval 1.19.1', () => {
  it.each([...SPRINTF, ...OTHERS])('%s', (_rego, name, args, expected) => {
    expect(call(name, args)).toEqual(expected);
  });
});

describe('io.jwt.decode_verify time constraint written as a number text', () => {
  // HS256 token {"sub": "a", "exp": 1700000001, "nbf": 1} signed with "s".
  const unsigned = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"a","exp":1700000001,"nbf":1}').toString('base64url')}`;
  const token = `${unsigned}.${createHmac('sha256', 's').update(unsigned).digest('base64url')}`;
  const verified = (time: BuiltinValue): BuiltinValue | undefined => {
    const r = call('io.jwt.decode_verify', [token, { secret: 's', time }]);
    return Array.isArray(r) ? r[0] : r;
  };

  // io.jwt.decode_verify(token, {"secret": "s", "time": <t>})[0] for each t below.
  it.each([
    ['1.7e18', true],
    ['1.700000002e18', false],
    ['1e3', false],
    ['1.0e-400 (underflows to 0)', false],
    ['1e400 (beyond float64)', undefined],
  ] as const)('time %s', (text, expected) => {
    expect(verified(n(text.split(' ')[0] as string))).toBe(expected);
  });

  it('time object.get({}, "k", {1}) (a set) fails the call', () => {
    expect(verified(set(1))).toBeUndefined();
  });
});
