// units.parse and units.parse_bytes (exact rational / 64-bit float arithmetic)
// Every expected value below was produced by Go OPA 1.19.1: `opa eval -f json '<name>(<args>)'`
// (undefined: OPA had no result because the builtin failed, which the engine reproduces).
import { describe, expect, it } from 'vitest';
import { call, type BuiltinValue } from './harness.js';

type Case = [label: string, name: string, args: BuiltinValue[], expected: BuiltinValue | undefined];

const CASES: Case[] = [
  ["parse plain integer", "units.parse", ["100"], 100],
  ["parse milli", "units.parse", ["250m"], 0.25],
  ["parse 1000m is 1", "units.parse", ["1000m"], 1],
  ["parse kilo", "units.parse", ["1.5k"], 1500],
  ["parse mega upper case", "units.parse", ["2M"], 2000000],
  ["parse kibi", "units.parse", ["1Ki"], 1024],
  ["parse Gi with upper-case I 'GI'", "units.parse", ["1GI"], 1073741824],
  ["parse exa", "units.parse", ["8E"], 8000000000000000000n],
  ["parse exponent", "units.parse", ["1e3"], 1000],
  ["parse quoted", "units.parse", ["\"10k\""], 10000],
  ["parse bad unit 'kb'", "units.parse", ["1kb"], undefined],
  ["parse no amount 'k'", "units.parse", ["k"], undefined],
  ["parse with space '1 k'", "units.parse", ["1 k"], undefined],
  ["parse huge exponent '1e1234567'", "units.parse", ["1e1234567"], undefined],
  ["parse_bytes plain", "units.parse_bytes", ["100"], 100],
  ["parse_bytes KB", "units.parse_bytes", ["10KB"], 10000],
  ["parse_bytes KiB", "units.parse_bytes", ["10KiB"], 10240],
  ["parse_bytes fractional MiB", "units.parse_bytes", ["1.5MiB"], 1572864],
  ["parse_bytes 0.3kb rounding", "units.parse_bytes", ["0.3kb"], 300],
  ["parse_bytes negative", "units.parse_bytes", ["-2g"], -2000000000],
  ["parse_bytes exa bytes", "units.parse_bytes", ["8EiB"], 9223372036854775808n],
  ["parse_bytes bad unit 'xb'", "units.parse_bytes", ["1xb"], undefined],
  ["parse_bytes no amount 'mb'", "units.parse_bytes", ["mb"], undefined],
  ["parse_bytes bad number '1.2.3kb'", "units.parse_bytes", ["1.2.3kb"], undefined],
];

describe('units builtins match opa eval 1.19.1', () => {
  it.each(CASES)('%s', (_label, name, args, expected) => {
    expect(call(name, args)).toEqual(expected);
  });
});
