// @ts-check
// The Node floor: what a Node ext_authz server costs before it does any work, next to the Go plugin and
// kmesh-opa on the always-allow policy. Measured the way bench/harness.mjs measures (ghz pinned to CPU 1,
// each server pinned to CPU 0, a fresh server per run, 2 s warm-up, then a timed window with the
// server's own CPU time read from /proc on both sides of it):
//   grpc-js pass-through   @grpc/grpc-js, identity deserializer, fixed pre-encoded CheckResponse
//   node:http2 bare        the same call answered from the raw HTTP/2 stream, no gRPC library
//   opa-envoy-plugin       the Go reference on bench/policies/allow.rego (skipped when absent)
//   kmesh-opa              on the WASM build of the same policy
// plus the idle RSS of bare node, node with @grpc/grpc-js loaded, and an idle kmesh-opa.
//
//   npm run bench:floor      # FLOOR_DURATION=10s FLOOR_CONCURRENCY=16,64 by default
//
// Every child is stopped at the end, on failure, and on SIGINT/SIGTERM.
import { spawn } from 'node:child_process';
import { existsSync, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkOnce, OK, PROJECT_ROOT } from './lib/envoy.mjs';
import { runGhz } from './lib/ghz.mjs';
import { cpuBusySeconds, describeMachine, uptime } from './lib/machine.mjs';
import { prepareWorkload } from './lib/prepare.mjs';
import { cpuSeconds, peakRssKiB, startGoPlugin, startKmeshOpa } from './lib/servers.mjs';
import { workload } from './lib/workloads.mjs';

/** @typedef {import('./lib/servers.mjs').RunningServer} RunningServer */
/** @typedef {import('./lib/prepare.mjs').Prepared} Prepared */

const SERVER_CPU = 0;
const LOAD_CPU = 1;
const WARMUP = '2s';
const MAX_CONNECTIONS = 2;
const IDLE_MS = 3000;
const READY_TIMEOUT_MS = 30_000;
const TOOLS = join(PROJECT_ROOT, '.tools', 'bin');
const FLOOR_SERVERS = join(PROJECT_ROOT, 'bench', 'lib', 'floor-servers.mjs');
const RESULTS_DIR = join(PROJECT_ROOT, 'bench', 'results');

const DURATION = process.env.FLOOR_DURATION ?? '10s';
if (!/^\d+(\.\d+)?(ms|s|m)$/.test(DURATION)) throw new Error(`FLOOR_DURATION=${DURATION}: expected a duration such as 10s`);
const CONCURRENCY = (process.env.FLOOR_CONCURRENCY ?? '16,64').split(',').map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`FLOOR_CONCURRENCY: "${s}" is not a positive integer`);
  return n;
});
const GHZ = process.env.GHZ ?? join(TOOLS, 'ghz');
const OPA = process.env.OPA ?? join(TOOLS, 'opa');
/** As bench/run.sh finds it, minus building: OPA_ENVOY_PLUGIN, else the one already in .tools/bin. */
const PLUGIN = process.env.OPA_ENVOY_PLUGIN || (existsSync(join(TOOLS, 'opa-envoy-plugin')) ? join(TOOLS, 'opa-envoy-plugin') : undefined);

/** Stops of every child still running, so a failure or a signal leaves nothing behind. */
/** @type {Set<() => Promise<void>>} */
const running = new Set();

async function stopAll() {
  await Promise.allSettled([...running].map((stop) => stop()));
  running.clear();
}

/**
 * A command pinned to the server CPU, in the project folder (so `import('@grpc/grpc-js')` resolves),
 * ready once a stdout line matches `ready`; its match's first group is returned (e.g. the port).
 * @param {string} label
 * @param {string[]} args node arguments
 * @param {RegExp} ready
 * @param {string} logFile
 */
async function startNode(label, args, ready, logFile) {
  const child = spawn('taskset', ['-c', String(SERVER_CPU), process.execPath, ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${label}: could not start node`);
  const pid = child.pid;
  const log = createWriteStream(logFile);
  /** @type {Promise<void>} */
  const exited = new Promise((resolveExit) => child.once('exit', () => resolveExit()));
  exited.then(() => log.end());
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  running.add(stop);
  child.stderr.on('data', (chunk) => log.write(chunk));
  const matched = await new Promise((resolveMatch, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} not ready after ${READY_TIMEOUT_MS / 1000}s (log: ${logFile})`)), READY_TIMEOUT_MS);
    exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${label} exited before it was ready (log: ${logFile})`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      log.write(`${line}\n`);
      const m = ready.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveMatch(m[1] ?? '');
      }
    });
  });
  return { pid, value: /** @type {string} */ (matched), stop };
}

/**
 * @param {'grpc-js' | 'http2'} mode
 * @param {string} logFile
 * @returns {Promise<RunningServer>}
 */
async function startFloorServer(mode, logFile) {
  const { pid, value, stop } = await startNode(mode, [FLOOR_SERVERS, mode], /^listening (\d+)$/, logFile);
  return { label: mode, pid, address: `127.0.0.1:${value}`, stop };
}

/** @typedef {{ name: string, start: (logFile: string) => Promise<RunningServer> }} ServerKind */

/**
 * @typedef {object} FloorRun
 * @property {string} server
 * @property {number} concurrency
 * @property {number} connections
 * @property {number} count
 * @property {number} errors
 * @property {number} rps
 * @property {number} cpuSeconds server user + system time over the timed window
 * @property {number} cpuUsPerCall
 * @property {number} p50Ms
 * @property {number} p99Ms
 * @property {number} peakRssMiB
 * @property {number} windowSeconds
 * @property {number} ghzCpuPercent near 100 % the client, not the server, limits req/s
 * @property {number} otherCpuSeconds busy time on the server CPU the server did not account for
 */

/**
 * One fresh server: start, check it answers OK, warm up, then the timed window.
 * @param {ServerKind} kind
 * @param {number} concurrency
 * @param {Prepared} p
 * @param {string} work
 * @returns {Promise<FloorRun>}
 */
async function measure(kind, concurrency, p, work) {
  const tag = `${kind.name}-c${concurrency}`;
  const server = await kind.start(join(work, `${tag}.log`));
  running.add(server.stop);
  try {
    const code = await checkOnce(server.address, p.workload.request);
    if (code !== OK) throw new Error(`${kind.name} answered status ${code} to the Check; expected ${OK}`);
    const load = {
      ghz: GHZ,
      address: server.address,
      requestFile: p.requestFile,
      concurrency,
      connections: Math.min(concurrency, MAX_CONNECTIONS),
      cpu: LOAD_CPU,
      outFile: join(work, `${tag}.ghz.json`),
    };
    await runGhz({ ...load, duration: WARMUP });
    const cpu0 = await cpuSeconds(server.pid);
    const busy0 = cpuBusySeconds(SERVER_CPU);
    const t0 = process.hrtime.bigint();
    const timed = await runGhz({ ...load, duration: DURATION });
    const windowSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = (await cpuSeconds(server.pid)) - cpu0;
    const busy = cpuBusySeconds(SERVER_CPU) - busy0;
    return {
      server: kind.name,
      concurrency,
      connections: load.connections,
      count: timed.count,
      errors: timed.errors,
      rps: timed.rps,
      cpuSeconds: cpu,
      cpuUsPerCall: timed.count > 0 ? (cpu * 1e6) / timed.count : NaN,
      p50Ms: timed.latencyMs.p50 ?? NaN,
      p99Ms: timed.latencyMs.p99 ?? NaN,
      peakRssMiB: (await peakRssKiB(server.pid)) / 1024,
      windowSeconds,
      ghzCpuPercent: (100 * timed.ghzCpuSeconds) / windowSeconds,
      otherCpuSeconds: Math.max(0, busy - cpu),
    };
  } finally {
    await server.stop();
    running.delete(server.stop);
  }
}

/** @param {number} pid @returns {Promise<{ rssMiB: number, hwmMiB: number }>} */
async function memory(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (/** @type {string} */ field) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]);
  };
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}

/** @typedef {{ process: string, rssMiB: number, hwmMiB: number }} IdleResult */

/**
 * @param {string} name
 * @param {() => Promise<{ pid: number, stop: () => Promise<void> }>} start
 * @returns {Promise<IdleResult>}
 */
async function idle(name, start) {
  const proc = await start();
  running.add(proc.stop);
  try {
    await sleep(IDLE_MS);
    return { process: name, ...(await memory(proc.pid)) };
  } finally {
    await proc.stop();
    running.delete(proc.stop);
  }
}

/**
 * @param {Prepared} p
 * @param {string} work
 * @returns {Promise<IdleResult[]>}
 */
async function measureIdle(p, work) {
  const keepAlive = "setInterval(() => {}, 1 << 30); console.log('ready');";
  return [
    await idle('node -e (bare)', () => startNode('node', ['-e', keepAlive], /^(ready)$/, join(work, 'idle-node.log'))),
    await idle('node + @grpc/grpc-js imported', () =>
      startNode('node+grpc-js', ['--input-type=module', '-e', `await import('@grpc/grpc-js'); ${keepAlive}`], /^(ready)$/, join(work, 'idle-grpc.log')),
    ),
    await idle('kmesh-opa (allow bundle, no load)', () => startKmeshOpa({ bundle: p.bundle, cpu: SERVER_CPU, logFile: join(work, 'idle-kmesh.log') })),
  ];
}

/** @param {number} n @param {number} digits */
const fmt = (n, digits) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/**
 * @param {FloorRun[]} runs
 * @param {IdleResult[]} idles
 * @param {{ loadBefore: string, loadAfter: string, skipped: string[] }} meta
 */
function markdown(runs, idles, meta) {
  const lines = [
    `Load: ${DURATION} timed window after ${WARMUP} warm-up, ghz on CPU ${LOAD_CPU}, each server fresh and pinned to CPU ${SERVER_CPU}, ` +
      `connections min(c, ${MAX_CONNECTIONS}), request: the allow workload's (JWT) CheckRequest.`,
    '',
    '| server | c | req/s | CPU µs/call | p50 ms | p99 ms | peak RSS MiB | ghz CPU % | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...runs.map(
      (r) =>
        `| ${r.server} | ${r.concurrency} | ${fmt(r.rps, 0)} | ${fmt(r.cpuUsPerCall, 1)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ` +
        `${fmt(r.peakRssMiB, 1)} | ${fmt(r.ghzCpuPercent, 0)} | ${r.errors} |`,
    ),
    '',
    `| idle process (after ${IDLE_MS / 1000} s) | VmRSS MiB | VmHWM MiB |`,
    '|---|---:|---:|',
    ...idles.map((i) => `| ${i.process} | ${fmt(i.rssMiB, 1)} | ${fmt(i.hwmMiB, 1)} |`),
    '',
    ...meta.skipped.map((s) => `Skipped: ${s}`),
    `Load before: \`${meta.loadBefore}\``,
    `Load after: \`${meta.loadAfter}\``,
  ];
  return `${lines.join('\n')}\n`;
}

async function main() {
  const loadBefore = uptime();
  const startedAt = new Date();
  process.stderr.write(`floor: ${loadBefore}\n`);
  const work = await mkdtemp(join(tmpdir(), 'kmesh-opa-floor-'));
  process.stderr.write(`floor: scratch files (server logs, kept on failure) in ${work}\n`);
  const p = await prepareWorkload(workload('allow'), join(work, 'allow'), OPA);

  /** @type {ServerKind[]} */
  const kinds = [
    { name: 'grpc-js pass-through', start: (logFile) => startFloorServer('grpc-js', logFile) },
    { name: 'node:http2 bare', start: (logFile) => startFloorServer('http2', logFile) },
  ];
  /** @type {string[]} */
  const skipped = [];
  if (PLUGIN) {
    const plugin = PLUGIN;
    kinds.push({
      name: 'opa-envoy-plugin (allow)',
      start: (logFile) => startGoPlugin({ plugin, rego: p.workload.regoFile, data: undefined, v0: false, cpu: SERVER_CPU, logFile }),
    });
  } else {
    skipped.push('opa-envoy-plugin: OPA_ENVOY_PLUGIN is unset and .tools/bin/opa-envoy-plugin is absent');
    process.stderr.write(`floor: skipping ${skipped[0]}\n`);
  }
  kinds.push({ name: 'kmesh-opa (allow)', start: (logFile) => startKmeshOpa({ bundle: p.bundle, cpu: SERVER_CPU, logFile }) });

  const idles = await measureIdle(p, work);
  for (const i of idles) process.stderr.write(`idle ${i.process}: VmRSS ${fmt(i.rssMiB, 1)} MiB, VmHWM ${fmt(i.hwmMiB, 1)} MiB\n`);

  /** @type {FloorRun[]} */
  const runs = [];
  for (const concurrency of CONCURRENCY) {
    for (const kind of kinds) {
      const r = await measure(kind, concurrency, p, work);
      runs.push(r);
      process.stderr.write(
        `${r.server} c=${r.concurrency}: ${fmt(r.rps, 0)} req/s, ${fmt(r.cpuUsPerCall, 1)} µs CPU/call, ` +
          `p50 ${fmt(r.p50Ms, 2)} p99 ${fmt(r.p99Ms, 2)} ms, RSS ${fmt(r.peakRssMiB, 1)} MiB, ghz CPU ${fmt(r.ghzCpuPercent, 0)} %` +
          (r.errors > 0 ? `, ${r.errors} ERRORS` : '') +
          (r.otherCpuSeconds > 0.05 * r.windowSeconds ? `, others used ${fmt(r.otherCpuSeconds, 2)} s of its CPU` : '') +
          '\n',
      );
    }
  }

  const loadAfter = uptime();
  const md = markdown(runs, idles, { loadBefore, loadAfter, skipped });
  await mkdir(RESULTS_DIR, { recursive: true });
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const base = join(RESULTS_DIR, `floor-${stamp}`);
  const meta = { startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), loadBefore, loadAfter, machine: describeMachine(), duration: DURATION, warmup: WARMUP, plugin: PLUGIN ?? null, skipped };
  await writeFile(`${base}.md`, `# Node floor, ${meta.startedAt}\n\n${md}`);
  await writeFile(`${base}.json`, `${JSON.stringify({ meta, runs, idle: idles }, null, 2)}\n`);
  await rm(work, { recursive: true, force: true });
  process.stdout.write(`${md}\n${base}.md\n${base}.json\n`);
}

for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    stopAll().finally(() => process.exit(130));
  });
}

main()
  .catch((err) => {
    process.stderr.write(`\n*** floor benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(stopAll);
