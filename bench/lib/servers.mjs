// @ts-check
// Starts the two servers under test, each pinned to one CPU with taskset, waits until each can
// answer, and reads its kernel accounting (CPU time, peak RSS) from /proc.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from './envoy.mjs';

const KMESH_OPA_CLI = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * @typedef {object} RunningServer
 * @property {string} label
 * @property {number} pid the server itself (taskset execs it, so the pid is the server's)
 * @property {string} address host:port of the ext_authz gRPC listener
 * @property {() => Promise<void>} stop SIGTERM, then SIGKILL if it lingers
 */

/** A port the kernel just handed out and released: other engineers share this machine. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

/** The caller's environment minus kmesh-opa's own settings, so nothing outside the harness changes the run. */
function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('KMESH_OPA_')));
}

/**
 * @param {string} label
 * @param {string[]} command
 * @param {number} cpu
 * @param {string} logFile both output streams go here
 * @param {(line: string) => void} onLine
 */
function launch(label, command, cpu, logFile, onLine) {
  const [program, ...args] = command;
  const child = spawn('taskset', ['-c', String(cpu), /** @type {string} */ (program), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(),
  });
  const log = createWriteStream(logFile);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      log.write(`${line}\n`);
      onLine(line);
    });
  }
  /** @type {Promise<number | null>} */
  const exited = new Promise((resolveExit) => {
    child.once('exit', (code) => resolveExit(code));
    child.once('error', (err) => {
      log.write(`${label}: ${err.message}\n`);
      resolveExit(null);
    });
  });
  exited.then(() => log.end());
  if (child.pid === undefined) throw new Error(`${label}: could not start ${program}`);
  const pid = child.pid;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  return { pid, exited, stop };
}

/**
 * Polls `probe` until it resolves true; fails early when the process exits first.
 * @param {string} label
 * @param {Promise<number | null>} exited
 * @param {() => Promise<boolean>} probe
 * @param {string} logFile
 */
async function waitReady(label, exited, probe, logFile) {
  let gone = false;
  exited.then(() => (gone = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${label} exited before it was ready; its log:\n${await tail(logFile)}`);
    if (await probe()) return;
    await sleep(50);
  }
  throw new Error(`${label} was not ready after ${READY_TIMEOUT_MS / 1000}s; its log:\n${await tail(logFile)}`);
}

/** @param {string} file */
async function tail(file) {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-30).join('\n');
}

/**
 * kmesh-opa on a bundle built by `opa build -t wasm`; ready when it logs its listening port.
 * @param {{ bundle: string, cpu: number, logFile: string, nodeArgs?: string[], args?: string[] }} options
 * @returns {Promise<RunningServer>}
 */
export async function startKmeshOpa({ bundle, cpu, logFile, nodeArgs = [], args = [] }) {
  let port = 0;
  const onLine = (/** @type {string} */ line) => {
    if (!line.includes('ext_authz gRPC server listening')) return;
    const parsed = JSON.parse(line);
    if (typeof parsed.port === 'number') port = parsed.port;
  };
  const listeners = ['--opa-ext-authz-addr', '127.0.0.1:0', '--opa-addr', '127.0.0.1:0', '--opa-diagnostic-addr', '127.0.0.1:0'];
  const command = [process.execPath, ...nodeArgs, KMESH_OPA_CLI, 'run', ...listeners, ...args, bundle];
  const proc = launch('kmesh-opa', command, cpu, logFile, onLine);
  await waitReady('kmesh-opa', proc.exited, async () => port !== 0, logFile);
  return { label: 'kmesh-opa', pid: proc.pid, address: `127.0.0.1:${port}`, stop: proc.stop };
}

/**
 * The Go OPA-Envoy plugin on the .rego (and data.json), run as in production; ready when its
 * diagnostic /health?plugins answers 200 (the ext_authz plugin is up and the policy loaded).
 * @param {{ plugin: string, rego: string, data: string | undefined, v0: boolean, cpu: number, logFile: string }} options
 * @returns {Promise<RunningServer>}
 */
export async function startGoPlugin({ plugin, rego, data, v0, cpu, logFile }) {
  const [apiPort, diagPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
  const command = [
    plugin, 'run', '--server',
    '--addr', `127.0.0.1:${apiPort}`,
    '--diagnostic-addr', `127.0.0.1:${diagPort}`,
    '--set', `plugins.envoy_ext_authz_grpc.addr=127.0.0.1:${grpcPort}`,
    '--set', 'plugins.envoy_ext_authz_grpc.path=envoy/authz/allow',
    '--set', 'decision_logs.console=false',
    ...(v0 ? ['--v0-compatible'] : []),
    rego,
    ...(data ? [data] : []),
  ];
  const proc = launch('opa-envoy-plugin', command, cpu, logFile, () => {});
  const healthy = async () => {
    try {
      return (await fetch(`http://127.0.0.1:${diagPort}/health?plugins`)).status === 200;
    } catch {
      return false;
    }
  };
  await waitReady('opa-envoy-plugin', proc.exited, healthy, logFile);
  return { label: 'opa-envoy-plugin', pid: proc.pid, address: `127.0.0.1:${grpcPort}`, stop: proc.stop };
}

/**
 * User + system CPU seconds of the whole process (all threads) so far.
 * @param {number} pid
 */
export async function cpuSeconds(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name (which may hold spaces); utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Peak resident set size (VmHWM) in KiB.
 * @param {number} pid
 */
export async function peakRssKiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no VmHWM`);
  return Number(match[1]);
}
