// @ts-check
// The harness's knobs, all from the environment (npm run bench takes no arguments), checked up front
// so a typo fails before minutes of load, not after.
import { join } from 'node:path';
import { PROJECT_ROOT } from './envoy.mjs';
import { WORKLOAD_NAMES } from './workloads.mjs';

/**
 * @typedef {object} BenchConfig
 * @property {string} duration timed window per run (Go duration for ghz)
 * @property {string} warmup untimed load before each timed window ('0s' for none)
 * @property {number} rounds A/B rounds per (workload, concurrency)
 * @property {string[]} workloads
 * @property {number[]} concurrency
 * @property {number} connections HTTP/2 connections ghz opens (at most the concurrency)
 * @property {number} serverCpu
 * @property {number} loadCpu
 * @property {string} resultsDir
 * @property {boolean} cpuProfile run kmesh-opa under --cpu-prof and report where its time goes
 * @property {string[]} kmeshArgs extra `kmesh-opa run` arguments (e.g. decision logs on)
 * @property {string} ghz
 * @property {string} opa
 * @property {string | undefined} plugin the Go reference; undefined benchmarks kmesh-opa alone
 */

export const USAGE = `Environment knobs (defaults in brackets):
  BENCH_DURATION     timed window per run, a Go duration [15s]
  BENCH_WARMUP       untimed load before each timed window [2s]; 0s for none
  BENCH_ROUNDS       A/B rounds per workload and concurrency; the report shows each figure's median [1]
  BENCH_WORKLOADS    comma-separated, of ${WORKLOAD_NAMES.join(', ')} [all]
  BENCH_CONCURRENCY  comma-separated ghz concurrencies [1,16,64]
  BENCH_CONNECTIONS  HTTP/2 connections ghz spreads the concurrency over, capped at the concurrency [2]
  BENCH_SERVER_CPU   CPU the server under test is pinned to [0]
  BENCH_LOAD_CPU     CPU ghz is pinned to [1]
  BENCH_RESULTS_DIR  where the report goes [bench/results]
  BENCH_CPU_PROF     1 to run kmesh-opa under node --cpu-prof and list its hottest functions [0]
  BENCH_KMESH_ARGS   extra kmesh-opa run arguments, space-separated, e.g. "--opa-set decision_logs.console=true" []
  BENCH_SKIP_BUILD   1 to use dist/ as it is instead of running npm run build first [0]
  OPA_ENVOY_PLUGIN   the Go opa-envoy-plugin binary (run.sh finds or builds one; empty: kmesh-opa alone)
  GHZ, OPA           the ghz and opa binaries (run.sh installs them into .tools/bin)`;

/**
 * @param {string} name
 * @param {string} raw
 */
function duration(name, raw) {
  if (!/^\d+(\.\d+)?(ms|s|m)$/.test(raw)) throw new Error(`${name}=${raw}: expected a duration such as 15s, 500ms or 1m`);
  return raw;
}

/**
 * @param {string} name
 * @param {string} raw
 * @param {number} min
 */
function integer(name, raw, min) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${raw}: expected an integer of at least ${min}`);
  return n;
}

/**
 * @param {string} name
 * @param {string} raw
 * @returns {string[]}
 */
function list(name, raw) {
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new Error(`${name} is empty`);
  return items;
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @returns {BenchConfig}
 */
export function readConfig(env) {
  const workloads = list('BENCH_WORKLOADS', env.BENCH_WORKLOADS ?? WORKLOAD_NAMES.join(','));
  for (const w of workloads) {
    if (!WORKLOAD_NAMES.includes(w)) throw new Error(`BENCH_WORKLOADS: unknown workload "${w}" (known: ${WORKLOAD_NAMES.join(', ')})`);
  }
  const need = (/** @type {string} */ name) => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set (run the harness through bench/run.sh)`);
    return value;
  };
  const serverCpu = integer('BENCH_SERVER_CPU', env.BENCH_SERVER_CPU ?? '0', 0);
  const loadCpu = integer('BENCH_LOAD_CPU', env.BENCH_LOAD_CPU ?? '1', 0);
  if (serverCpu === loadCpu) throw new Error('BENCH_SERVER_CPU and BENCH_LOAD_CPU must differ: the load would compete with the server');
  return {
    duration: duration('BENCH_DURATION', env.BENCH_DURATION ?? '15s'),
    warmup: env.BENCH_WARMUP === '0' ? '0s' : duration('BENCH_WARMUP', env.BENCH_WARMUP ?? '2s'),
    rounds: integer('BENCH_ROUNDS', env.BENCH_ROUNDS ?? '1', 1),
    workloads,
    concurrency: list('BENCH_CONCURRENCY', env.BENCH_CONCURRENCY ?? '1,16,64').map((c) => integer('BENCH_CONCURRENCY', c, 1)),
    connections: integer('BENCH_CONNECTIONS', env.BENCH_CONNECTIONS ?? '2', 1),
    serverCpu,
    loadCpu,
    resultsDir: env.BENCH_RESULTS_DIR ?? join(PROJECT_ROOT, 'bench', 'results'),
    cpuProfile: env.BENCH_CPU_PROF === '1',
    kmeshArgs: (env.BENCH_KMESH_ARGS ?? '').split(' ').filter(Boolean),
    ghz: need('GHZ'),
    opa: need('OPA'),
    plugin: env.OPA_ENVOY_PLUGIN || undefined,
  };
}

/** @param {string} d a duration accepted above */
export function seconds(d) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(d);
  if (!match) return 0;
  const n = Number(match[1]);
  return match[2] === 'ms' ? n / 1000 : match[2] === 'm' ? n * 60 : n;
}
