// semver.compare and semver.is_valid
// Every expected value below was produced by Go OPA 1.19.1: `opa eval -f json '<name>(<args>)'`
// (undefined: OPA had no result because the builtin failed, which the engine reproduces).
import { describe, expect, it } from 'vitest';
import { call, type BuiltinValue } from './harness.js';

type Case = [label: string, name: string, args: BuiltinValue[], expected: BuiltinValue | undefined];

const CASES: Case[] = [
  ["compare equal versions", "semver.compare", ["1.2.3", "1.2.3"], 0],
  ["compare minor less", "semver.compare", ["1.2.3", "1.10.0"], -1],
  ["compare major greater", "semver.compare", ["2.0.0", "1.99.99"], 1],
  ["compare release beats pre-release", "semver.compare", ["1.0.0", "1.0.0-alpha"], 1],
  ["compare pre-release numeric vs alpha", "semver.compare", ["1.0.0-1", "1.0.0-alpha"], -1],
  ["compare pre-release numeric identifiers", "semver.compare", ["1.0.0-alpha.10", "1.0.0-alpha.9"], 1],
  ["compare longer pre-release wins", "semver.compare", ["1.0.0-alpha.1", "1.0.0-alpha"], 1],
  ["compare ignores build metadata", "semver.compare", ["1.0.0+build.1", "1.0.0+build.2"], 0],
  ["compare with leading v", "semver.compare", ["v1.0.0", "1.0.1"], -1],
  ["compare bad semver '1.0' in first operand", "semver.compare", ["1.0", "1.0.0"], undefined],
  ["compare bad semver 'x.y.z' in second operand", "semver.compare", ["1.0.0", "x.y.z"], undefined],
  ["is_valid plain version", "semver.is_valid", ["1.2.3"], true],
  ["is_valid with pre-release and metadata", "semver.is_valid", ["1.2.3-rc.1+sha.abc"], true],
  ["is_valid bad semver '1.2'", "semver.is_valid", ["1.2"], false],
  ["is_valid bad semver '1.2.3.4'", "semver.is_valid", ["1.2.3.4"], false],
  ["is_valid bad pre-release '1.0.0-a..b'", "semver.is_valid", ["1.0.0-a..b"], false],
  ["is_valid leading zeros '01.2.3' (Go ParseInt accepts)", "semver.is_valid", ["01.2.3"], true],
  ["is_valid bad semver 'v' only", "semver.is_valid", ["v"], false],
  ["is_valid overflowing major '99999999999999999999.0.0'", "semver.is_valid", ["99999999999999999999.0.0"], false],
];

describe('semver builtins match opa eval 1.19.1', () => {
  it.each(CASES)('%s', (_label, name, args, expected) => {
    expect(call(name, args)).toEqual(expected);
  });
});
