// sprintf with Go's fmt verbs over OPA's operand conversion
// Every expected value below was produced by Go OPA 1.19.1: `opa eval -f json '<name>(<args>)'`
// (undefined: OPA had no result because the builtin failed, which the engine reproduces).
import { describe, expect, it } from 'vitest';
import { call, type BuiltinValue } from './harness.js';

type Case = [label: string, name: string, args: BuiltinValue[], expected: BuiltinValue | undefined];

const CASES: Case[] = [
  ["%v of object sorts keys, Rego syntax", "sprintf", ["%v", [{ "b": 1, "a": [1, "x\n", true, null] }]], "{\"a\": [1, \"x\\n\", true, null], \"b\": 1}"],
  ["%v of nested empty containers", "sprintf", ["%v|%v", [[], {  }]], "[]|{}"],
  ["%s of string, %d of int", "sprintf", ["%s is %d years", ["bob", 42]], "bob is 42 years"],
  ["%d of float is a bad verb", "sprintf", ["%d", [1.5]], "%!d(float64=1.5)"],
  ["%t of boolean (booleans are Rego text)", "sprintf", ["%t", [true]], "%!t(string=true)"],
  ["%T of each kind", "sprintf", ["%T %T %T %T %T", [true, 1, 1.5, 100000000000000000000n, "s"]], "string int64 float64 *big.Int string"],
  ["hex, octal, binary, char, quote", "sprintf", ["%x %X %o %b %c %q %U", [255, "hi", 8, 5, 65, "a\"b", 9731]], "ff 6869 10 101 A \"a\\\"b\" U+2603"],
  ["widths and flags", "sprintf", ["[%5d|%-5d|%05d|%+d|% d|%5s|%-5s|%05s]", [42, 42, -42, 5, 5, "ab", "ab", "ab"]], "[   42|42   |-0042|+5| 5|   ab|ab   |000ab]"],
  ["float precisions", "sprintf", ["%f %.2f %8.3f %e %E %.3e %g %G %.3g", [3.14159, 2.675, 3.14159, 1234.5678, 0.000012345, 1.2345e-10, 100000000.5, 1.5e-7, 0.001]], "3.141590 2.67    3.142 1.234568e+03 1.234500E-05 1.234e-10 1.000000005e+08 1.5E-07 0.001"],
  ["float round half to even on exact ties", "sprintf", ["%.0f %.0f %.0f %.1f %.2f", [0.5, 1.5, 2.5, 0.25, 1.005]], "0 2 2 0.2 1.00"],
  ["%v of floats uses shortest %g", "sprintf", ["%v %v %v %v", [0.1, 1000000.5, 0.000001, 123456789.25]], "0.1 1.0000005e+06 1e-06 1.2345678925e+08"],
  ["sharp flag on floats", "sprintf", ["%#g %#.3g %#v", [1.5, 2.5, 1]], "1.50000 2.50 1"],
  ["big integers", "sprintf", ["%v %d %x %08d %+d", [100000000000000000000n, 100000000000000000000n, 100000000000000000000n, 100000000000000000000n, 100000000000000000000n]], "100000000000000000000 100000000000000000000 56bc75e2d63100000 100000000000000000000 +100000000000000000000"],
  ["int64 boundary", "sprintf", ["%d %d", [9223372036854775807n, -9223372036854775808n]], "9223372036854775807 -9223372036854775808"],
  ["missing argument", "sprintf", ["%d %d", [1]], "1 %!d(MISSING)"],
  ["extra arguments", "sprintf", ["%d", [1, "x", 2.5]], "1%!(EXTRA string=x, float64=2.5)"],
  ["no verb at end", "sprintf", ["abc%", []], "abc%!(NOVERB)"],
  ["percent literal", "sprintf", ["100%%", []], "100%"],
  ["explicit argument indexes", "sprintf", ["%[2]d %[1]d %d", [1, 2]], "2 1 2"],
  ["bad argument index '%[3]d'", "sprintf", ["%[3]d", [1]], "%!d(BADINDEX)"],
  ["star width and precision", "sprintf", ["%*d|%-*d|%.*f|%*s", [5, 1, 4, 2, 2, 3.14159, 1.5, "x"]], "    1|2   |3.14|%!(BADWIDTH)x"],
  ["negative star precision", "sprintf", ["%.*d", [-1, 5]], "%!(BADPREC)5"],
  ["precision on strings counts runes", "sprintf", ["%.2s|%5.1s|%.2x|%x", ["héllo", "héllo", "héllo", ""]], "hé|    h|68c3|"],
  ["unknown verb '%z'", "sprintf", ["%z %!", [1]], "%!z(int64=1) %!!(MISSING)"],
  ["%s of array and null", "sprintf", ["%s %v", [[1, "a"], null]], "[1, \"a\"] null"],
  ["%v of string with non-printable runes", "sprintf", ["%v", [{ "k": "tab\there \u0001" }]], "{\"k\": \"tab\\there\\u00a0\\x01\"}"],
  ["%q with plus and sharp", "sprintf", ["%+q %#q %#q", ["é", "back`tick", "plain"]], "\"\\u00e9\" \"back`tick\" `plain`"],
  ["zero precision zero value", "sprintf", ["[%.0d|%5.0d]", [0, 0]], "[|     ]"],
];

describe('sprintf builtins match opa eval 1.19.1', () => {
  it.each(CASES)('%s', (_label, name, args, expected) => {
    expect(call(name, args)).toEqual(expected);
  });
});
