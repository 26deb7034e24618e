// @ts-check
// Turns the runs into the report: a markdown table per server and of ratios, the same as JSON (with
// every run), and a PNG chart of latency percentiles; all under bench/results/ with one time stamp.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { latencyChart } from './chart.mjs';
import { PERCENTILES } from './ghz.mjs';

/** @typedef {'kmesh-opa' | 'opa-envoy-plugin'} ServerName */
/** @typedef {import('./config.mjs').BenchConfig} BenchConfig */
/** @typedef {import('./workloads.mjs').Workload} Workload */

/**
 * @typedef {import('./ghz.mjs').LoadResult & {
 *   workload: string, concurrency: number, connections: number, server: ServerName, round: number,
 *   cpuSeconds: number, cpuUsPerRequest: number, peakRssKiB: number, windowSeconds: number,
 *   otherCpuSeconds: number, ghzCpuPercent: number, profile?: import('./cpuprofile.mjs').ProfileSummary
 * }} RunResult
 */

/**
 * @typedef {object} Meta
 * @property {string} startedAt ISO time
 * @property {string} finishedAt
 * @property {string} loadBefore `uptime` before the first run
 * @property {string} loadAfter
 * @property {ReturnType<typeof import('./machine.mjs').describeMachine>} machine
 * @property {Record<'ghz' | 'opa' | 'plugin', string>} versions
 */

/**
 * One server in one (workload, concurrency) cell: the median of each figure over the rounds.
 * @typedef {object} Figures
 * @property {number} rps
 * @property {Record<string, number>} latencyMs
 * @property {number} peakRssMiB
 * @property {number} cpuSeconds
 * @property {number} cpuUsPerRequest
 * @property {number} errors summed over the rounds
 * @property {number} otherCpuSeconds
 * @property {number} ghzCpuPercent
 */

/**
 * @typedef {object} Cell
 * @property {string} workload
 * @property {number} concurrency
 * @property {Partial<Record<ServerName, Figures>>} servers
 * @property {Record<string, number> | undefined} ratios kmesh-opa ÷ opa-envoy-plugin
 */

/** @param {number[]} values */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? /** @type {number} */ (sorted[mid]) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** @param {RunResult[]} runs @returns {Figures} */
function figures(runs) {
  const m = (/** @type {(r: RunResult) => number} */ pick) => median(runs.map(pick));
  /** @type {Record<string, number>} */
  const latencyMs = {};
  for (const p of PERCENTILES) latencyMs[`p${p}`] = m((r) => r.latencyMs[`p${p}`] ?? NaN);
  return {
    rps: m((r) => r.rps),
    latencyMs,
    peakRssMiB: m((r) => r.peakRssKiB / 1024),
    cpuSeconds: m((r) => r.cpuSeconds),
    cpuUsPerRequest: m((r) => r.cpuUsPerRequest),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    otherCpuSeconds: m((r) => r.otherCpuSeconds),
    ghzCpuPercent: m((r) => r.ghzCpuPercent),
  };
}

/** @param {Figures} a @param {Figures} b */
function ratios(a, b) {
  /** @type {Record<string, number>} */
  const out = { rps: a.rps / b.rps };
  for (const p of PERCENTILES) out[`p${p}`] = (a.latencyMs[`p${p}`] ?? NaN) / (b.latencyMs[`p${p}`] ?? NaN);
  out.peakRss = a.peakRssMiB / b.peakRssMiB;
  out.cpuSeconds = a.cpuSeconds / b.cpuSeconds;
  out.cpuUsPerRequest = a.cpuUsPerRequest / b.cpuUsPerRequest;
  return out;
}

/**
 * @param {RunResult[]} runs
 * @param {string[]} workloads in run order
 * @param {number[]} concurrency
 * @param {ServerName[]} servers
 * @returns {Cell[]}
 */
export function summarize(runs, workloads, concurrency, servers) {
  /** @type {Cell[]} */
  const cells = [];
  for (const workload of workloads) {
    for (const c of concurrency) {
      /** @type {Partial<Record<ServerName, Figures>>} */
      const byServer = {};
      for (const s of servers) {
        const mine = runs.filter((r) => r.workload === workload && r.concurrency === c && r.server === s);
        if (mine.length > 0) byServer[s] = figures(mine);
      }
      const a = byServer['kmesh-opa'];
      const b = byServer['opa-envoy-plugin'];
      cells.push({ workload, concurrency: c, servers: byServer, ratios: a && b ? ratios(a, b) : undefined });
    }
  }
  return cells;
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
/** @param {number} n */
const ms = (n) => (Number.isNaN(n) ? '–' : n < 1 ? n.toFixed(3) : n < 100 ? n.toFixed(2) : n.toFixed(1));
/** @param {number} n */
const times = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–');

/**
 * @param {{ config: BenchConfig, servers: ServerName[], cells: Cell[], runs: RunResult[], meta: Meta, workloads: Workload[], chartName: string }} r
 */
function markdown({ config, servers, cells, runs, meta, workloads, chartName }) {
  const lines = [];
  lines.push(`# ext_authz benchmark: ${servers.join(' vs ')}`, '');
  lines.push(`Run ${meta.startedAt}. Settings: ${config.duration} timed per run after ${config.warmup} of warm-up, ${config.rounds} round(s), ` +
    `concurrency ${config.concurrency.join('/')}, ghz --connections min(concurrency, ${config.connections}); server pinned to CPU ${config.serverCpu}, ghz to CPU ${config.loadCpu}; ` +
    `a fresh server per run.${config.cpuProfile ? ' **kmesh-opa ran under node --cpu-prof: its figures include the profiler\'s cost.**' : ''}` +
    `${config.kmeshArgs.length ? ` kmesh-opa extra arguments: \`${config.kmeshArgs.join(' ')}\`.` : ''}`, '');
  const m = meta.machine;
  lines.push(`Machine: ${m.cpus} × ${m.cpuModel}, Linux ${m.kernel}, Node ${m.node}. Tools: ghz ${meta.versions.ghz}; opa ${meta.versions.opa}; plugin: ${meta.versions.plugin}.`, '');
  lines.push(`Load before: \`${meta.loadBefore}\``, '', `Load after: \`${meta.loadAfter}\``, '');
  lines.push('## Figures', '', 'Medians over the rounds; latency is measured by ghz (client side), RSS is the server\'s VmHWM, CPU is the server\'s user+system time in the timed window.', '');
  lines.push('| workload | c | server | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | peak RSS MiB | CPU s | CPU µs/req | errors | others\' CPU s | ghz CPU % |');
  lines.push('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const cell of cells) {
    for (const s of servers) {
      const f = cell.servers[s];
      if (!f) continue;
      const l = f.latencyMs;
      lines.push(`| ${cell.workload} | ${cell.concurrency} | ${s} | ${int.format(f.rps)} | ${ms(l.p50 ?? NaN)} | ${ms(l.p90 ?? NaN)} | ${ms(l.p99 ?? NaN)} | ${ms(l['p99.9'] ?? NaN)} | ` +
        `${f.peakRssMiB.toFixed(1)} | ${f.cpuSeconds.toFixed(2)} | ${f.cpuUsPerRequest.toFixed(1)} | ${f.errors} | ${f.otherCpuSeconds.toFixed(2)} | ${f.ghzCpuPercent.toFixed(0)} |`);
    }
  }
  lines.push('');
  if (cells.some((c) => c.ratios)) {
    lines.push('## Ratios (kmesh-opa ÷ opa-envoy-plugin)', '', 'req/s above 1× favours kmesh-opa; every other column below 1× favours kmesh-opa.', '');
    lines.push('| workload | c | req/s | p50 | p90 | p99 | p99.9 | peak RSS | CPU s | CPU µs/req |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const { workload, concurrency, ratios: r } of cells) {
      if (!r) continue;
      lines.push(`| ${workload} | ${concurrency} | ${times(r.rps ?? NaN)} | ${times(r.p50 ?? NaN)} | ${times(r.p90 ?? NaN)} | ${times(r.p99 ?? NaN)} | ${times(r['p99.9'] ?? NaN)} | ` +
        `${times(r.peakRss ?? NaN)} | ${times(r.cpuSeconds ?? NaN)} | ${times(r.cpuUsPerRequest ?? NaN)} |`);
    }
    lines.push('');
  }
  lines.push(`![latency percentiles](${chartName})`, '');
  lines.push('## Workloads', '');
  for (const w of workloads) lines.push(`- **${w.name}**: ${w.title}`);
  lines.push('');
  const profiled = runs.filter((r) => r.profile);
  if (profiled.length > 0) {
    lines.push('## Where kmesh-opa\'s time goes (node --cpu-prof, self time, warm-up included)', '');
    for (const r of profiled) {
      const p = /** @type {import('./cpuprofile.mjs').ProfileSummary} */ (r.profile);
      lines.push(`### ${r.workload}, c=${r.concurrency}, round ${r.round} (${(p.busyMs / 1000).toFixed(2)} s busy)`, '');
      lines.push('| % of busy time | area (innermost caller of its own) |', '|---:|---|');
      for (const a of p.areas) lines.push(`| ${a.percent.toFixed(1)} | ${a.area} |`);
      lines.push('', '| self % | function | where |', '|---:|---|---|');
      for (const f of p.functions.slice(0, 12)) lines.push(`| ${f.percent.toFixed(1)} | \`${f.name}\` | ${f.where} |`);
      lines.push('', '| self % | file |', '|---:|---|');
      for (const f of p.files.slice(0, 10)) lines.push(`| ${f.percent.toFixed(1)} | ${f.file} |`);
      lines.push('');
    }
  }
  const clientBound = runs.filter((r) => r.ghzCpuPercent > 85);
  if (clientBound.length > 0) {
    lines.push(`ghz itself used over 85 % of its CPU in ${clientBound.length} of ${runs.length} run(s) (${clientBound.map((r) => `${r.workload} c=${r.concurrency} ${r.server} ${r.ghzCpuPercent.toFixed(0)} %`).join('; ')}): ` +
      'there the client may have capped requests/s.', '');
  }
  lines.push('"others\' CPU s" is time the server\'s CPU was busy with processes other than the server during its timed window ' +
    '(this machine is shared); large values mean that run was disturbed.', '');
  return `${lines.join('\n')}\n`;
}

/**
 * @param {{ config: BenchConfig, servers: ServerName[], runs: RunResult[], meta: Meta, workloads: Workload[] }} input
 * @returns {Promise<string[]>} the files written
 */
export async function writeReport({ config, servers, runs, meta, workloads }) {
  await mkdir(config.resultsDir, { recursive: true });
  const stamp = meta.startedAt.replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
  const base = join(config.resultsDir, `bench-${stamp}`);
  const cells = summarize(runs, workloads.map((w) => w.name), config.concurrency, servers);
  const chartName = `bench-${stamp}.png`;
  const settings = {
    duration: config.duration,
    warmup: config.warmup,
    rounds: config.rounds,
    workloads: config.workloads,
    concurrency: config.concurrency,
    connections: config.connections,
    serverCpu: config.serverCpu,
    loadCpu: config.loadCpu,
    cpuProfile: config.cpuProfile,
  };
  await writeFile(`${base}.json`, `${JSON.stringify({ meta, settings, servers, workloads: workloads.map((w) => ({ name: w.name, title: w.title })), cells, runs }, null, 2)}\n`);
  await writeFile(`${base}.md`, markdown({ config, servers, cells, runs, meta, workloads, chartName }));
  await writeFile(`${base}.png`, latencyChart(cells, servers, {
    subtitle: `${config.duration} per run, ${config.rounds} round(s), ghz on CPU ${config.loadCpu}, server on CPU ${config.serverCpu}, ${meta.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
  }));
  return [`${base}.md`, `${base}.json`, `${base}.png`];
}
