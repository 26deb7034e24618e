// uuid.parse
// Every expected value below was produced by Go OPA 1.19.1: `opa eval -f json '<name>(<args>)'`
// (undefined: OPA had no result because the builtin failed, which the engine reproduces).
import { describe, expect, it } from 'vitest';
import { call, type BuiltinValue } from './harness.js';

type Case = [label: string, name: string, args: BuiltinValue[], expected: BuiltinValue | undefined];

const CASES: Case[] = [
  ["parse v4", "uuid.parse", ["00000000-0000-4000-8000-000000000000"], { "variant": "RFC4122", "version": 4 }],
  ["parse v1 with time and node", "uuid.parse", ["c232ab00-9414-11ec-b3c8-9f6bdeced846"], { "clocksequence": 13256, "macvariables": "local:multicast", "nodeid": "9f-6b-de-ce-d8-46", "time": 1645557742000000000n, "variant": "RFC4122", "version": 1 }],
  ["parse v2 (DCE security)", "uuid.parse", ["000003e8-e3a9-21ee-8100-325096b39f47"], { "clocksequence": 256, "domain": "Person", "id": 1000, "macvariables": "local:unicast", "nodeid": "32-50-96-b3-9f-47", "time": 1710602548404324000n, "variant": "RFC4122", "version": 2 }],
  ["parse urn form", "uuid.parse", ["urn:uuid:c232ab00-9414-11ec-b3c8-9f6bdeced846"], { "clocksequence": 13256, "macvariables": "local:multicast", "nodeid": "9f-6b-de-ce-d8-46", "time": 1645557742000000000n, "variant": "RFC4122", "version": 1 }],
  ["parse braced form", "uuid.parse", ["{c232ab00-9414-11ec-b3c8-9f6bdeced846}"], { "clocksequence": 13256, "macvariables": "local:multicast", "nodeid": "9f-6b-de-ce-d8-46", "time": 1645557742000000000n, "variant": "RFC4122", "version": 1 }],
  ["parse 32 hex digits", "uuid.parse", ["c232ab00941411ecb3c89f6bdeced846"], { "clocksequence": 13256, "macvariables": "local:multicast", "nodeid": "9f-6b-de-ce-d8-46", "time": 1645557742000000000n, "variant": "RFC4122", "version": 1 }],
  ["parse bad uuid 'not-a-uuid'", "uuid.parse", ["not-a-uuid"], undefined],
  ["parse bad uuid with 'g' digit", "uuid.parse", ["g232ab00-9414-11ec-b3c8-9f6bdeced846"], undefined],
];

describe('uuid builtins match opa eval 1.19.1', () => {
  it.each(CASES)('%s', (_label, name, args, expected) => {
    expect(call(name, args)).toEqual(expected);
  });
});
