// Per-evaluation state of the host builtins (Go OPA's bctx.Time and per-query builtin cache) and
// per-instance isolation.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHostBuiltins, HOST_BUILTIN_NAMES } from '../../../src/engine/builtins/index.js';
import { call } from './harness.js';

function steppingClock(start: bigint): { now: () => bigint; reads: () => number } {
  let t = start;
  let reads = 0;
  return {
    now: () => {
      reads++;
      t += 1_000_000_000n;
      return t;
    },
    reads: () => reads,
  };
}

describe('time.now_ns', () => {
  it('gives one value for every call within an evaluation and a new one after startEvaluation', () => {
    const clock = steppingClock(1_700_000_000_000_000_000n);
    const host = createHostBuiltins({ now: clock.now });
    host.startEvaluation();
    const first = call('time.now_ns', [], host);
    expect(call('time.now_ns', [], host)).toBe(first);
    expect(clock.reads()).toBe(1);
    host.startEvaluation();
    const second = call('time.now_ns', [], host);
    expect(second).toBe(1_700_000_002_000_000_000n);
    expect(second).not.toBe(first);
  });

  it('reads the wall clock by default', () => {
    const host = createHostBuiltins();
    host.startEvaluation();
    const ns = call('time.now_ns', [], host);
    expect(typeof ns).toBe('bigint');
    const ms = Number(ns as bigint) / 1e6;
    expect(Math.abs(ms - Date.now())).toBeLessThan(5000);
  });

  it('is the time io.jwt.decode_verify checks exp against when no time constraint is given', () => {
    const header = Buffer.from('{"alg":"HS256"}').toString('base64url');
    const payload = Buffer.from('{"exp":1700000001}').toString('base64url');
    const input = `${header}.${payload}`;
    const jwt = `${input}.${createHmac('sha256', 's').update(input).digest('base64url')}`;
    let now = 1_700_000_000_000_000_000n;
    const host = createHostBuiltins({ now: () => now });
    host.startEvaluation();
    expect((call('io.jwt.decode_verify', [jwt, { secret: 's' }], host) as unknown[])[0]).toBe(true);
    now = 1_700_000_001_000_000_000n;
    // Same evaluation: the clock is not read again.
    expect((call('io.jwt.decode_verify', [jwt, { secret: 's' }], host) as unknown[])[0]).toBe(true);
    host.startEvaluation();
    expect((call('io.jwt.decode_verify', [jwt, { secret: 's' }], host) as unknown[])[0]).toBe(false);
  });
});

describe('uuid.rfc4122', () => {
  it('is stable per key within an evaluation, differs across keys, and is new after startEvaluation', () => {
    const host = createHostBuiltins();
    host.startEvaluation();
    const a = call('uuid.rfc4122', ['a'], host);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(call('uuid.rfc4122', ['a'], host)).toBe(a);
    expect(call('uuid.rfc4122', ['b'], host)).not.toBe(a);
    host.startEvaluation();
    expect(call('uuid.rfc4122', ['a'], host)).not.toBe(a);
  });

  it('is not shared between two instances', () => {
    const one = createHostBuiltins();
    const two = createHostBuiltins();
    expect(call('uuid.rfc4122', ['k'], one)).not.toBe(call('uuid.rfc4122', ['k'], two));
  });
});

describe('HOST_BUILTIN_NAMES', () => {
  // The host imports of a policy built with `opa build -t wasm` (1.19.1) that use them: read from
  // the module's builtins() export. json.is_valid, base64url.encode and friends are native there.
  const WASM_HOST_IMPORTS = [
    'base64url.encode_no_pad', 'crypto.hmac.equal', 'crypto.hmac.md5', 'crypto.hmac.sha1', 'crypto.hmac.sha256',
    'crypto.hmac.sha512', 'crypto.md5', 'crypto.sha1', 'crypto.sha256', 'hex.decode', 'hex.encode', 'io.jwt.decode',
    'io.jwt.decode_verify', 'io.jwt.verify_es256', 'io.jwt.verify_es384', 'io.jwt.verify_es512', 'io.jwt.verify_hs256',
    'io.jwt.verify_hs384', 'io.jwt.verify_hs512', 'io.jwt.verify_ps256', 'io.jwt.verify_ps384', 'io.jwt.verify_ps512',
    'io.jwt.verify_rs256', 'io.jwt.verify_rs384', 'io.jwt.verify_rs512', 'io.jwt.verify_eddsa', 'semver.compare',
    'semver.is_valid', 'sprintf', 'time.add_date', 'time.clock', 'time.date', 'time.diff', 'time.format', 'time.now_ns',
    'time.parse_duration_ns', 'time.parse_ns', 'time.parse_rfc3339_ns', 'time.weekday', 'units.parse', 'units.parse_bytes',
    'urlquery.decode', 'urlquery.decode_object', 'urlquery.encode', 'urlquery.encode_object', 'uuid.parse', 'uuid.rfc4122',
    'yaml.is_valid', 'yaml.marshal', 'yaml.unmarshal',
  ];

  it('lists every implemented host import', () => {
    expect(WASM_HOST_IMPORTS.filter((n) => !HOST_BUILTIN_NAMES.has(n))).toEqual([]);
    expect([...HOST_BUILTIN_NAMES].sort()).toEqual([...WASM_HOST_IMPORTS].sort());
  });
});
