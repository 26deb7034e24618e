// @ts-check
// One evaluation without the network: CheckRequest bytes -> decoded request -> input document ->
// WASM evaluation -> CheckResponse -> bytes, timed whole and stage by stage, on kmesh-opa's compiled
// code in dist/ (npm run build first). The request is encoded once with Envoy's official protos.
//   node bench/micro.mjs [workload]       (default jwt; MICRO_ITERATIONS, default 20000)
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChecker } from '../dist/authz/check.js';
import { buildInput } from '../dist/authz/input.js';
import { decisionToResponse } from '../dist/authz/response.js';
import { decodeCheckRequest, encodeCheckResponse } from '../dist/authz/wire.js';
import { findCompiler } from '../dist/engine/compile.js';
import { loadPolicyBytes } from '../dist/engine/load.js';
import { createLogger } from '../dist/log.js';
import { createMetrics } from '../dist/metrics.js';
import { encodeCheckRequest } from './lib/envoy.mjs';
import { prepareWorkload } from './lib/prepare.mjs';
import { workload } from './lib/workloads.mjs';

/** @typedef {import('../dist/authz/check.js').CheckSettings} CheckSettings */

/** The agent's defaults (Kong Mesh authConfig defaults, no dry run, body parsed). @type {CheckSettings} */
const SETTINGS = {
  authConfig: { statusOnError: 403, onAgentFailure: 'deny', maxSize: 0, sendRawBody: false },
  dryRun: false,
  skipRequestBodyParse: false,
};

const ITERATIONS = Number(process.env.MICRO_ITERATIONS ?? 20000);
const WARMUP = Math.min(ITERATIONS, 2000);

const BATCHES = 5;

/**
 * Mean µs of `fn(i)` per call: `warm` untimed calls, then `n` calls in five batches, of which the
 * fastest counts (on a shared machine, noise only ever adds time). i runs 0..warm+n-1 across all.
 * @param {number} n @param {number} warm @param {(i: number) => unknown} fn
 */
function time(n, warm, fn) {
  let i = 0;
  for (; i < warm; i++) fn(i);
  const size = Math.max(1, Math.floor(n / BATCHES));
  let best = Infinity;
  for (let b = 0; b < BATCHES; b++) {
    const t0 = process.hrtime.bigint();
    for (const end = i + size; i < end; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e3 / size);
  }
  return best;
}

async function main() {
  const name = process.argv[2] ?? 'jwt';
  if (!Number.isInteger(ITERATIONS) || ITERATIONS < 1) throw new Error(`MICRO_ITERATIONS=${process.env.MICRO_ITERATIONS}: expected a positive integer`);
  const opa = findCompiler(process.env);
  if (!opa) throw new Error('no opa binary: run scripts/install-tools.sh opa');
  const w = workload(name);
  const dir = await mkdtemp(join(tmpdir(), 'kmesh-opa-micro-'));
  const prepared = await prepareWorkload(w, dir, opa);
  const active = loadPolicyBytes(await readFile(prepared.bundle), { decision: 'envoy/authz/allow', maxMemoryPages: 2048, regoVersion: 'auto', compiler: opa, cacheDir: dir }, prepared.bundle);
  await rm(dir, { recursive: true, force: true });
  const policy = active.policy;
  const bytes = encodeCheckRequest(w.request);

  const once = () => {
    const req = decodeCheckRequest(bytes, 'v3');
    const input = buildInput(req, 'v3', SETTINGS);
    const result = policy.evaluate(input);
    return encodeCheckResponse(decisionToResponse(result, randomUUID(), SETTINGS), 'v3');
  };
  const firstResult = policy.evaluate(buildInput(decodeCheckRequest(bytes, 'v3'), 'v3', SETTINGS));
  if (firstResult !== true) throw new Error(`the ${name} request is not allowed by its policy (decision ${JSON.stringify(firstResult)})`);

  // Each stage is timed on its own, fed with what the stage before produced. buildInput adds keys to
  // the decoded document, so it gets a fresh one per call.
  const decoded = Array.from({ length: ITERATIONS + WARMUP + BATCHES }, () => decodeCheckRequest(bytes, 'v3'));
  const decode = time(ITERATIONS, WARMUP, () => decodeCheckRequest(bytes, 'v3'));
  const input = time(ITERATIONS, WARMUP, (i) => buildInput(/** @type {import('../dist/authz/types.js').DecodedRequest} */ (decoded[i]), 'v3', SETTINGS));
  const doc = buildInput(decodeCheckRequest(bytes, 'v3'), 'v3', SETTINGS);
  const evaluate = time(ITERATIONS, WARMUP, () => policy.evaluate(doc));
  const respond = time(ITERATIONS, WARMUP, () => decisionToResponse(true, randomUUID(), SETTINGS));
  const response = decisionToResponse(true, randomUUID(), SETTINGS);
  const encode = time(ITERATIONS, WARMUP, () => encodeCheckResponse(response, 'v3'));

  const pipeline = time(ITERATIONS, WARMUP, once);

  // The production check function (decision id, metrics, decision hook) between the two codecs.
  const check = createChecker({
    state: { policy: active, settings: SETTINGS },
    metrics: createMetrics({ processMetrics: false }),
    log: createLogger('error'),
  });
  const checker = time(ITERATIONS, WARMUP, () => encodeCheckResponse(check(decodeCheckRequest(bytes, 'v3'), 'v3'), 'v3'));

  /** @type {[string, number][]} */
  const rows = [
    ['decode CheckRequest (wire.ts)', decode],
    ['build input (input.ts)', input],
    ['WASM evaluation (WasmPolicy.evaluate)', evaluate],
    ['decision -> CheckResponse (response.ts, decision id)', respond],
    ['encode CheckResponse (wire-encode.ts)', encode],
    ['whole: bytes -> input -> eval -> response -> bytes', pipeline],
    ['whole, through createChecker (+ metrics)', checker],
  ];
  process.stdout.write(`micro-benchmark: ${name} workload, ${bytes.length}-byte CheckRequest, ${ITERATIONS} iterations after ${WARMUP} warm-up (fastest of ${BATCHES} batches), Node ${process.version}\n\n`);
  process.stdout.write('| stage | µs/op | ops/s |\n|---|---:|---:|\n');
  for (const [label, us] of rows) process.stdout.write(`| ${label} | ${us.toFixed(2)} | ${Math.round(1e6 / us).toLocaleString('en-US')} |\n`);
}

main().catch((err) => {
  process.stderr.write(`micro: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
