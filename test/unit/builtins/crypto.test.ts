// crypto.md5/sha1/sha256 and crypto.hmac.*
// Every expected value below was produced by Go OPA 1.19.1: `opa eval -f json '<name>(<args>)'`
// (undefined: OPA had no result because the builtin failed, which the engine reproduces).
import { describe, expect, it } from 'vitest';
import { call, type BuiltinValue } from './harness.js';

type Case = [label: string, name: string, args: BuiltinValue[], expected: BuiltinValue | undefined];

const CASES: Case[] = [
  ["md5 of ascii", "crypto.md5", ["hello"], "5d41402abc4b2a76b9719d911017c592"],
  ["md5 of empty string", "crypto.md5", [""], "d41d8cd98f00b204e9800998ecf8427e"],
  ["sha1 of utf-8 text", "crypto.sha1", ["héllo wörld"], "24e9f5c07847ff8a2a9fa77456655792f5bc7f9f"],
  ["sha256 of ascii", "crypto.sha256", ["hello"], "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"],
  ["hmac md5", "crypto.hmac.md5", ["message", "key"], "4e4748e62b463521f6775fbf921234b5"],
  ["hmac sha1", "crypto.hmac.sha1", ["message", "key"], "2088df74d5f2146b48146caf4965377e9d0be3a4"],
  ["hmac sha256", "crypto.hmac.sha256", ["message", "key"], "6e9ef29b75fffc5b7abae527d58fdadb2fe42e7219011976917343065f58ed4a"],
  ["hmac sha256 with empty key", "crypto.hmac.sha256", ["message", ""], "eb08c1f56d5ddee07f7bdf80468083da06b64cf4fac64fe3a90883df5feacae4"],
  ["hmac sha512 of utf-8", "crypto.hmac.sha512", ["mëssage", "kéy"], "adcefa03f404bb3d80c652de89508cf5fbaab446a8d067bdf1a9b0b7af578c5d480a1cbbe4870c14fd494bd870c6c673ed4b4316c049b75b95de8cf92ac89219"],
  ["hmac.equal on equal macs", "crypto.hmac.equal", ["abc", "abc"], true],
  ["hmac.equal on different macs of same length", "crypto.hmac.equal", ["abc", "abd"], false],
  ["hmac.equal on macs of different length", "crypto.hmac.equal", ["abc", "abcd"], false],
];

describe('crypto builtins match opa eval 1.19.1', () => {
  it.each(CASES)('%s', (_label, name, args, expected) => {
    expect(call(name, args)).toEqual(expected);
  });
});
