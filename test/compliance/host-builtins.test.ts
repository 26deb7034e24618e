// Every OPA 1.19.1 compliance case whose policy calls a host builtin, compiled by the real
// `opa build -t wasm` and evaluated by this engine, judged as OPA's WASM SDK judges it. Cases are skipped
// only when OPA's own WASM test exclusions name them; cases of builtins still PENDING are counted apart.
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_BUILTIN_NAMES } from '../../src/engine/builtins/index.js';
import { OPA_HOST_BUILTINS } from '../../src/engine/builtins/opa-host-builtins.js';
import { opaSourceDir } from '../../scripts/host-builtins.mjs';
import { opaBinary, ROOT } from '../helpers/tools.js';
import { PENDING_BUILTINS } from './pending.js';
import { compileAll, judge, loadCases, loadExceptions, mayCallAny, type Compiled, type ComplianceCase } from './runner.js';

const opaDir = opaSourceDir();
const exceptions = loadExceptions(opaDir);
const all = loadCases(opaDir);
const candidates = all.filter((c) => mayCallAny(c, OPA_HOST_BUILTINS));
const CACHE = join(ROOT, '.cache', 'compliance');

describe(`OPA ${opaDir.split('@').pop()} compliance cases that call host builtins`, () => {
  const compiled = new Map<ComplianceCase, Compiled>();
  const started = performance.now();
  const tally = { ran: 0, passed: 0, skipped: new Map<string, string>(), pending: 0, notHost: 0 };

  beforeAll(async () => {
    for (const [c, result] of await compileAll(candidates, opaBinary(), CACHE)) compiled.set(c, result);
  }, 30 * 60_000);

  afterAll(() => {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const skipped = [...tally.skipped].map(([note, why]) => `\n  skipped ${note}: ${why}`).join('');
    console.log(`compliance: ${candidates.length} candidate cases of ${all.length}; ${tally.ran} ran, ${tally.passed} passed, ${tally.skipped.size} skipped (OPA's WASM exclusions), ${tally.pending} pending (PENDING_BUILTINS), ${tally.notHost} call no host builtin once compiled; ${seconds}s${skipped}`);
  });

  it.each(candidates.map((c) => [`${c.file}: ${c.note}`, c] as const))('%s', (_name, c) => {
    const result = compiled.get(c);
    expect(result, 'compiled in beforeAll').toBeDefined();
    if (result !== undefined && 'hostBuiltins' in result && result.hostBuiltins.length === 0) {
      tally.notHost++;
      return;
    }
    const skip = exceptions.reasonFor(c.note);
    if (skip !== undefined) {
      tally.skipped.set(c.note, skip);
      return;
    }
    if (result !== undefined && 'hostBuiltins' in result && result.hostBuiltins.some((b) => PENDING_BUILTINS.includes(b))) {
      tally.pending++;
      return;
    }
    tally.ran++;
    const failure = judge(c, result!);
    expect(failure, `${c.file}: ${c.note}\nquery: ${c.query}\n${c.modules.join('\n---\n')}`).toBeUndefined();
    tally.passed++;
  });

  it('PENDING_BUILTINS names only host builtins of OPA that the engine does not implement yet', () => {
    const implemented = PENDING_BUILTINS.filter((b) => HOST_BUILTIN_NAMES.has(b));
    expect(implemented, 'implemented: remove them from test/compliance/pending.ts').toEqual([]);
    expect(PENDING_BUILTINS.filter((b) => !OPA_HOST_BUILTINS.includes(b))).toEqual([]);
  });

  it(`skips only cases that OPA's WASM exclusions (${exceptions.file.split('opa@')[1]}) name`, () => {
    expect([...tally.skipped.values()].every((why) => why.length > 0)).toBe(true);
  });
});
