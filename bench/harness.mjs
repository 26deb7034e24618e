// @ts-check
// The A/B benchmark: kmesh-opa against the Go OPA-Envoy plugin, same policy, same requests, same ghz
// settings, one fresh server per timed run (so peak RSS is that run's), runs alternating between the
// two. Started by bench/run.sh, which installs the tools and finds the plugin; see bench/README.md.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { readConfig, seconds, USAGE } from './lib/config.mjs';
import { summarizeProfile } from './lib/cpuprofile.mjs';
import { checkOnce, OK, PERMISSION_DENIED } from './lib/envoy.mjs';
import { runGhz } from './lib/ghz.mjs';
import { cpuBusySeconds, describeMachine, uptime } from './lib/machine.mjs';
import { prepareWorkload } from './lib/prepare.mjs';
import { writeReport } from './lib/report.mjs';
import { cpuSeconds, peakRssKiB, startGoPlugin, startKmeshOpa } from './lib/servers.mjs';
import { workload } from './lib/workloads.mjs';

const exec = promisify(execFile);

/** @typedef {import('./lib/config.mjs').BenchConfig} BenchConfig */
/** @typedef {import('./lib/workloads.mjs').Workload} Workload */
/** @typedef {import('./lib/servers.mjs').RunningServer} RunningServer */
/** @typedef {import('./lib/report.mjs').RunResult} RunResult */
/** @typedef {import('./lib/report.mjs').ServerName} ServerName */
/** @typedef {import('./lib/prepare.mjs').Prepared} Prepared */

class DecisionMismatch extends Error {}

/**
 * ghz counts a denial as a gRPC OK, so the decision is checked before any timing: the workload's
 * request must be allowed, and its deny variant denied (proof that the policy really decides).
 * @param {RunningServer} server
 * @param {Workload} w
 */
async function verifyDecisions(server, w) {
  const allowed = await checkOnce(server.address, w.request);
  if (allowed !== OK) {
    throw new DecisionMismatch(`${server.label} answered status ${allowed} to the ${w.name} request; expected ${OK} (allow)`);
  }
  if (w.denyRequest) {
    const denied = await checkOnce(server.address, w.denyRequest);
    if (denied !== PERMISSION_DENIED) {
      throw new DecisionMismatch(`${server.label} answered status ${denied} to the ${w.name} deny variant; expected ${PERMISSION_DENIED}`);
    }
  }
}

/**
 * @param {ServerName} name
 * @param {Prepared} p
 * @param {BenchConfig} config
 * @param {string} logFile
 * @param {string | undefined} profileDir
 */
function startServer(name, p, config, logFile, profileDir) {
  if (name === 'kmesh-opa') {
    const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    return startKmeshOpa({ bundle: p.bundle, cpu: config.serverCpu, logFile, nodeArgs, args: config.kmeshArgs });
  }
  if (!config.plugin) throw new Error('no opa-envoy-plugin binary');
  return startGoPlugin({
    plugin: config.plugin,
    rego: p.workload.regoFile,
    data: p.dataFile,
    v0: p.workload.regoVersion === 'v0',
    cpu: config.serverCpu,
    logFile,
  });
}

/**
 * One timed run on a fresh server: start, verify, warm up, then the timed window with the server's
 * CPU time and its CPU's total busy time read on both sides of it.
 * @param {{ name: ServerName, p: Prepared, concurrency: number, round: number, config: BenchConfig, work: string }} args
 * @returns {Promise<RunResult>}
 */
async function measure({ name, p, concurrency, round, config, work }) {
  const tag = `${p.workload.name}-c${concurrency}-r${round}-${name}`;
  const profileDir = config.cpuProfile && name === 'kmesh-opa' ? join(work, 'profiles', tag) : undefined;
  const server = await startServer(name, p, config, join(work, `${tag}.log`), profileDir);
  const load = {
    ghz: config.ghz,
    address: server.address,
    requestFile: p.requestFile,
    concurrency,
    connections: Math.min(concurrency, config.connections),
    cpu: config.loadCpu,
    outFile: join(work, `${tag}.ghz.json`),
  };
  /** @type {RunResult} */
  let result;
  try {
    await verifyDecisions(server, p.workload);
    if (seconds(config.warmup) > 0) await runGhz({ ...load, duration: config.warmup });
    const cpu0 = await cpuSeconds(server.pid);
    const busy0 = cpuBusySeconds(config.serverCpu);
    const t0 = process.hrtime.bigint();
    const timed = await runGhz({ ...load, duration: config.duration });
    const windowSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = (await cpuSeconds(server.pid)) - cpu0;
    const busy = cpuBusySeconds(config.serverCpu) - busy0;
    result = {
      workload: p.workload.name,
      concurrency,
      connections: load.connections,
      server: name,
      round,
      ...timed,
      cpuSeconds: cpu,
      cpuUsPerRequest: timed.count > 0 ? (cpu * 1e6) / timed.count : NaN,
      peakRssKiB: await peakRssKiB(server.pid),
      windowSeconds,
      // Busy time on the server's CPU that the server did not account for: other people's work.
      otherCpuSeconds: Math.max(0, busy - cpu),
      // Near 100 % the client, not the server, may be what limits requests/s.
      ghzCpuPercent: (100 * timed.ghzCpuSeconds) / windowSeconds,
    };
  } finally {
    await server.stop();
  }
  if (profileDir) {
    const files = await readdir(profileDir).catch(() => /** @type {string[]} */ ([]));
    const file = files.find((f) => f.endsWith('.cpuprofile'));
    if (file) result.profile = await summarizeProfile(join(profileDir, file));
  }
  return result;
}

/** @param {RunResult} r */
function progressLine(r) {
  const l = r.latencyMs;
  return (
    `${r.workload} c=${r.concurrency} ${r.server}: ${r.rps.toFixed(0)} req/s, ` +
    `p50 ${l.p50?.toFixed(2)} p99 ${l.p99?.toFixed(2)} p99.9 ${l['p99.9']?.toFixed(2)} ms, ` +
    `RSS ${(r.peakRssKiB / 1024).toFixed(1)} MiB, CPU ${r.cpuSeconds.toFixed(2)} s (${r.cpuUsPerRequest.toFixed(1)} µs/req)` +
    `, ghz CPU ${r.ghzCpuPercent.toFixed(0)} %` +
    (r.errors > 0 ? `, ${r.errors} ERRORS` : '') +
    (r.otherCpuSeconds > 0.05 * r.windowSeconds ? `, others used ${r.otherCpuSeconds.toFixed(2)} s of its CPU` : '')
  );
}

/**
 * The version a tool reports, or the one scripts/install-tools.sh stamped beside it (a `go install`
 * build of ghz calls itself "dev").
 * @param {string} command
 * @param {string[]} args
 */
async function versionOf(command, args) {
  const stamp = join(dirname(command), `.${basename(command)}.version`);
  const stamped = await readFile(stamp, 'utf8').catch(() => '');
  if (stamped.trim() !== '') return stamped.trim();
  try {
    const { stdout, stderr } = await exec(command, args);
    return ((stdout || stderr).trim().split('\n')[0] ?? '').replace(/^Version:\s*/, '');
  } catch {
    return 'unknown';
  }
}

async function main() {
  if (process.argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = readConfig(process.env);
  /** @type {ServerName[]} */
  const servers = config.plugin ? ['kmesh-opa', 'opa-envoy-plugin'] : ['kmesh-opa'];
  const work = await mkdtemp(join(tmpdir(), 'kmesh-opa-bench-'));
  const loadBefore = uptime();
  const startedAt = new Date();
  process.stderr.write(`bench: ${loadBefore}\nbench: scratch files in ${work}\n`);

  /** @type {Prepared[]} */
  const prepared = [];
  for (const name of config.workloads) prepared.push(await prepareWorkload(workload(name), join(work, name), config.opa));

  const total = config.rounds * prepared.length * config.concurrency.length * servers.length;
  /** @type {RunResult[]} */
  const runs = [];
  let cell = 0;
  for (let round = 1; round <= config.rounds; round++) {
    for (const p of prepared) {
      for (const concurrency of config.concurrency) {
        // A/B, then B/A in the next cell: drift in the machine's load falls on both servers alike.
        const order = cell++ % 2 === 0 ? servers : [...servers].reverse();
        for (const name of order) {
          const r = await measure({ name, p, concurrency, round, config, work });
          runs.push(r);
          process.stderr.write(`[${runs.length}/${total}] ${progressLine(r)}\n`);
        }
      }
    }
  }

  const files = await writeReport({
    config,
    servers,
    runs,
    meta: {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      loadBefore,
      loadAfter: uptime(),
      machine: describeMachine(),
      versions: {
        ghz: await versionOf(config.ghz, ['--version']),
        opa: await versionOf(config.opa, ['version']),
        plugin: config.plugin ? await versionOf(config.plugin, ['version']) : 'not run',
      },
    },
    workloads: prepared.map((p) => p.workload),
  });
  await rm(work, { recursive: true, force: true });
  process.stderr.write(`bench: ${uptime()}\n`);
  for (const f of files) process.stdout.write(`${f}\n`);
}

main().catch((err) => {
  const loud = err instanceof DecisionMismatch ? 'WRONG DECISION, benchmark aborted' : 'benchmark failed';
  process.stderr.write(`\n*** ${loud}: ${err instanceof Error ? err.message : String(err)}\n(server logs stay in the scratch folder named above)\n`);
  process.exit(1);
});
