// The list of host builtins is OPA's, derived from its source (scripts/host-builtins.mjs), and current.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deriveHostBuiltins, GENERATED, NEVER_HOST_CALLS, opaSourceDir, pinnedOpaVersion, render } from '../../scripts/host-builtins.mjs';
import { readWasmBundle } from '../../src/engine/bundle.js';
import { HOST_BUILTIN_NAMES } from '../../src/engine/builtins/index.js';
import { OPA_HOST_BUILTINS } from '../../src/engine/builtins/opa-host-builtins.js';
import { WasmPolicy } from '../../src/engine/wasm.js';
import { opaBinary } from '../helpers/tools.js';

describe('OPA host builtins list', () => {
  it('is what OPA\'s capabilities.json minus its WASM compiler\'s builtinsFunctions gives (run npm run gen:host-builtins when not)', () => {
    const derived = deriveHostBuiltins(opaSourceDir());
    expect(readFileSync(GENERATED, 'utf8')).toBe(render(pinnedOpaVersion(), derived.host));
    // Sanity of the derivation itself: the split is a partition of OPA's capabilities.
    expect(derived.native.length).toBeGreaterThan(50);
    expect(derived.host.length + derived.native.length + Object.keys(NEVER_HOST_CALLS).length).toBe(derived.capabilities.length);
  });

  it('names every builtin the engine implements', () => {
    expect([...HOST_BUILTIN_NAMES].filter((b) => !OPA_HOST_BUILTINS.includes(b))).toEqual([]);
  });

  it('leaves out only builtins a compiled policy never imports (assign, eq, print, rego.metadata.*)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-never-host-'));
    const rego = join(dir, 'p.rego');
    writeFileSync(rego, `package t

# METADATA
# title: probe
r := [rego.metadata.chain(), rego.metadata.rule()] if {
  x := 1
  x = 1
  print("x", x)
}
`);
    execFileSync(opaBinary(), ['build', '-t', 'wasm', '-e', 't/r', '-o', join(dir, 'b.tar.gz'), rego], { stdio: 'pipe' });
    const policy = WasmPolicy.load(readWasmBundle(readFileSync(join(dir, 'b.tar.gz'))).wasm, {}, { decision: 't/r', maxMemoryPages: 64 });
    expect(policy.hostBuiltins).toEqual([]);
    expect(policy.evaluate({})).toEqual([[{ annotations: { scope: 'rule', title: 'probe' }, path: ['t', 'r'] }], { scope: 'rule', title: 'probe' }]);
    expect(Object.keys(NEVER_HOST_CALLS).sort()).toEqual(['assign', 'eq', 'print', 'rego.metadata.chain', 'rego.metadata.rule']);
  });

  it('an embedder\'s extra builtin is called, and may not replace one of OPA\'s', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-extra-'));
    const rego = join(dir, 'p.rego');
    writeFileSync(rego, 'package t\n\nr := test.sleep("1ms")\n');
    const caps = JSON.parse(execFileSync(opaBinary(), ['capabilities', '--current'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { builtins: unknown[] };
    caps.builtins.push({ name: 'test.sleep', decl: { type: 'function', args: [{ type: 'string' }], result: { type: 'null' } } });
    writeFileSync(join(dir, 'caps.json'), JSON.stringify(caps));
    execFileSync(opaBinary(), ['build', '-t', 'wasm', '--capabilities', join(dir, 'caps.json'), '-e', 't/r', '-o', join(dir, 'b.tar.gz'), rego], { stdio: 'pipe' });
    const wasm = readWasmBundle(readFileSync(join(dir, 'b.tar.gz'))).wasm;
    expect(() => WasmPolicy.load(wasm, {}, { decision: 't/r', maxMemoryPages: 64 })).toThrow(/does not implement: test\.sleep/);
    const calls: unknown[] = [];
    const policy = WasmPolicy.load(wasm, {}, { decision: 't/r', maxMemoryPages: 64, extraBuiltins: new Map([['test.sleep', (d) => (calls.push(d), null)]]) });
    expect(policy.evaluate({})).toBeNull();
    expect(calls).toEqual(['1ms']);
    expect(() => WasmPolicy.load(wasm, {}, { decision: 't/r', maxMemoryPages: 64, extraBuiltins: new Map([['sprintf', () => 'x']]) })).toThrow(/may not replace OPA's: sprintf/);
  });
});
