// @ts-check
// One ghz run against one server, pinned to its own CPU, with the official Envoy protos; its JSON
// report is reduced to the figures the harness compares (percentiles computed from every request's
// latency, since ghz's own summary stops at p99).
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { CHECK_METHOD, IMPORT_PATHS, PROTO_FILE } from './envoy.mjs';

const run = promisify(execFile);

export const PERCENTILES = /** @type {const} */ ([50, 90, 99, 99.9]);

/**
 * @typedef {object} GhzOptions
 * @property {string} ghz path of the ghz binary
 * @property {string} address host:port
 * @property {string} requestFile protojson CheckRequest (-D)
 * @property {number} concurrency
 * @property {number} connections
 * @property {string} duration Go duration, e.g. 15s
 * @property {number} cpu the CPU ghz is pinned to
 * @property {string} outFile where ghz writes its JSON report (removed after reading)
 */

/**
 * @typedef {object} LoadResult
 * @property {number} count requests answered OK within the window
 * @property {number} errors requests that failed (any non-OK gRPC status or transport error)
 * @property {number} rps
 * @property {Record<string, number>} latencyMs p50, p90, p99, p99.9 in milliseconds
 * @property {number} averageMs
 * @property {number} ghzCpuSeconds user + system CPU time ghz itself used, start-up included
 */

/** @param {GhzOptions} o */
export function ghzArgs(o) {
  return [
    '--proto', PROTO_FILE,
    '-i', IMPORT_PATHS.join(','),
    '--call', CHECK_METHOD,
    '-D', o.requestFile,
    '--insecure',
    '-c', String(o.concurrency),
    '--connections', String(o.connections),
    '-z', o.duration,
    // Calls still in flight when the window closes are left out rather than reported as cancelled.
    '--duration-stop', 'ignore',
    // One OS thread's worth of Go scheduler, to match the single CPU it is pinned to.
    '--cpus', '1',
    // The request is a fixed document: skip ghz's per-call Go templating, which would cost client CPU.
    '--disable-template-functions',
    '--disable-template-data',
    '-O', 'json',
    '-o', o.outFile,
    o.address,
  ];
}

/**
 * @param {GhzOptions} o
 * @returns {Promise<LoadResult>}
 */
export async function runGhz(o) {
  // bash's `times` prints its children's CPU time once ghz has exited: the client's own cost, which
  // tells whether the client rather than the server limited requests/s.
  const { stdout } = await run('taskset', ['-c', String(o.cpu), 'bash', '-c', '"$@" && times', 'ghz', o.ghz, ...ghzArgs(o)], { maxBuffer: 16 << 20 });
  const report = JSON.parse(await readFile(o.outFile, 'utf8'));
  await rm(o.outFile, { force: true });
  return { ...summarize(report), ghzCpuSeconds: childCpuSeconds(stdout) };
}

/**
 * The second line of `times`: children's user and system time, e.g. "0m1.234s 0m0.567s".
 * @param {string} output
 */
function childCpuSeconds(output) {
  const line = output.trim().split('\n').at(-1) ?? '';
  const parts = [...line.matchAll(/(\d+)m([\d.]+)s/g)];
  if (parts.length !== 2) return NaN;
  return parts.reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
}

/**
 * @param {{ count: number, rps: number, average: number, details?: { latency: number, status: string, error: string }[] }} report
 * @returns {Omit<LoadResult, 'ghzCpuSeconds'>}
 */
function summarize(report) {
  const details = report.details ?? [];
  const ok = details.filter((d) => d.status === 'OK' && d.error === '');
  const latencies = Float64Array.from(ok, (d) => d.latency).sort();
  /** @type {Record<string, number>} */
  const latencyMs = {};
  for (const p of PERCENTILES) latencyMs[`p${p}`] = percentile(latencies, p) / 1e6;
  return { count: ok.length, errors: details.length - ok.length, rps: report.rps, latencyMs, averageMs: report.average / 1e6 };
}

/**
 * Nearest-rank percentile of sorted values (NaN when there are none).
 * @param {Float64Array} sorted
 * @param {number} p
 */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return /** @type {number} */ (sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]);
}
