// @ts-check
// Bundle propagation to many agents: N kmesh-opa processes long poll one bundle server; a new revision
// is published and, per agent, the time from publishing until the agent enforces it is measured (its
// "policy activated" log line with the new revision: the moment the next check uses it). Every agent
// is then checked over gRPC: a request only the new revision allows must be allowed, and the one only
// the previous revision allowed denied. Repeated ROUNDS times; p50/p99/max and the machine load printed.
//
//   npm run build && node bench/bundles-scale.mjs       # AGENTS=50 ROUNDS=3 BATCH=5 by default
//
// The bundle server speaks OPA's long polling: it answers with application/vnd.openpolicyagent.bundles,
// and holds a request whose If-None-Match is the current ETag for the `Prefer: wait=N` seconds, or until
// a new revision is published. Everything is on 127.0.0.1; every process started is killed on exit.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOnce, OK, PERMISSION_DENIED, PROJECT_ROOT } from './lib/envoy.mjs';
import { percentile } from './lib/ghz.mjs';
import { describeMachine, uptime } from './lib/machine.mjs';

const AGENTS = Number(process.env.AGENTS ?? 50);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
/** Agents started at once: each compiles nothing but loads WASM and opens three listeners. */
const BATCH = Number(process.env.BATCH ?? 5);
const LONG_POLL_SECONDS = 30;
/** The whole run is bounded: past this everything is killed and the run fails. */
const DEADLINE_MS = Number(process.env.DEADLINE_SECONDS ?? 600) * 1000;
const ROUND_TIMEOUT_MS = 60_000;
const LONG_POLL_CONTENT_TYPE = 'application/vnd.openpolicyagent.bundles';
const CLI = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');
const OPA = join(PROJECT_ROOT, '.tools', 'bin', 'opa');

const work = mkdtempSync(join(tmpdir(), 'kmesh-opa-bundles-scale-'));

/** @typedef {{ index: number, child: import('node:child_process').ChildProcess, grpc: number, activations: Map<string, number>, stderr: () => string }} Agent */

/** @type {Agent[]} */
const agents = [];

/**
 * Revision `rev-k` allows exactly the request for path /rev-k: a check says which revision decided it.
 * @param {string} revision
 * @returns {Buffer}
 */
function buildBundle(revision) {
  const src = join(work, 'src', revision);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'policy.rego'), `package envoy.authz\n\ndefault allow := false\n\nallow if input.parsed_path == ["${revision}"]\n`);
  const out = join(work, `${revision}.tar.gz`);
  execFileSync(OPA, ['build', '-b', '-t', 'wasm', '-e', 'envoy/authz/allow', '-r', revision, '-o', out, src], { stdio: 'pipe' });
  return readFileSync(out);
}

/**
 * @param {string} path
 * @returns {Record<string, unknown>}
 */
function checkRequest(path) {
  return { attributes: { request: { http: { id: '1', method: 'GET', path, host: 'backend', scheme: 'http', protocol: 'HTTP/1.1', headers: { ':method': 'GET', ':path': path } } } } };
}

/** The long-polling bundle server. */
function startBundleServer() {
  let current = { etag: '', bytes: /** @type {Buffer} */ (Buffer.alloc(0)) };
  /** @type {Set<{ res: import('node:http').ServerResponse, timer: NodeJS.Timeout }>} */
  const held = new Set();
  let requests = 0;
  /** @param {import('node:http').ServerResponse} res */
  const sendBundle = (res) => res.writeHead(200, { 'content-type': LONG_POLL_CONTENT_TYPE, etag: current.etag, 'content-length': current.bytes.length }).end(current.bytes);
  /** @param {import('node:http').ServerResponse} res */
  const notModified = (res) => res.writeHead(304, { 'content-type': LONG_POLL_CONTENT_TYPE, etag: current.etag }).end();
  const server = createServer((req, res) => {
    requests++;
    if (req.url !== '/bundles/authz.tar.gz') return void res.writeHead(404).end();
    if (req.headers['if-none-match'] !== current.etag) return sendBundle(res);
    const wait = /(?:^|[,;\s])wait=(\d+)/.exec(String(req.headers.prefer ?? ''));
    if (!wait) return notModified(res);
    const entry = {
      res,
      timer: setTimeout(() => {
        held.delete(entry);
        notModified(res);
      }, Number(wait[1]) * 1000),
    };
    held.add(entry);
    res.on('close', () => {
      clearTimeout(entry.timer);
      held.delete(entry);
    });
  });
  return {
    server,
    /** Requests waiting for a new revision. */
    held: () => held.size,
    requests: () => requests,
    /** @param {string} revision @param {Buffer} bytes */
    publish(revision, bytes) {
      current = { etag: `"${revision}"`, bytes };
      for (const entry of held) {
        clearTimeout(entry.timer);
        sendBundle(entry.res);
      }
      held.clear();
    },
    close: () =>
      new Promise((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose(undefined));
      }),
  };
}

/**
 * Starts one agent and resolves once its diagnostics listener (the last one) is open.
 * @param {number} index
 * @param {string} configPath
 * @returns {Promise<Agent>}
 */
function startAgent(index, configPath) {
  const listeners = ['--opa-ext-authz-addr', '127.0.0.1:0', '--opa-addr', '127.0.0.1:0', '--opa-diagnostic-addr', '127.0.0.1:0'];
  const child = spawn(process.execPath, [CLI, 'run', ...listeners, '--opa-config-path', configPath], {
    env: { ...process.env, KMESH_OPA_DATA_DIR: mkdtempSync(join(work, `agent-${index}-`)), KMESH_OPA_CACHE_DIR: join(work, 'cache') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  let pending = '';
  /** @type {Map<string, number>} */
  const activations = new Map();
  /** @type {Agent} */
  const agent = { index, child, grpc: 0, activations, stderr: () => err };
  agents.push(agent);
  return new Promise((resolveStart, reject) => {
    child.stderr?.on('data', (/** @type {Buffer} */ d) => {
      const at = performance.now();
      const text = d.toString();
      err = (err + text).slice(-20_000);
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLogLine(agent, line, at, resolveStart);
    });
    child.on('exit', (code) => reject(new Error(`agent ${index} exited with ${code}:\n${err}`)));
  });
}

/**
 * @param {Agent} agent
 * @param {string} line
 * @param {number} at
 * @param {(a: Agent) => void} onListening
 */
function onLogLine(agent, line, at, onListening) {
  if (!line.startsWith('{')) return;
  /** @type {{ msg?: string, revision?: string, port?: number }} */
  const entry = JSON.parse(line);
  if (entry.msg === 'policy activated' && entry.revision) agent.activations.set(entry.revision, at);
  else if (entry.msg === 'ext_authz gRPC server listening' && entry.port) agent.grpc = entry.port;
  else if (entry.msg === 'diagnostics listening') onListening(agent);
}

/**
 * @param {() => boolean} condition
 * @param {number} timeoutMs
 * @param {() => string} what
 */
async function until(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Every agent must enforce `revision` and no longer `previous`.
 * @param {string} revision
 * @param {string} previous
 */
async function verifyEnforced(revision, previous) {
  for (const a of agents) {
    const address = `127.0.0.1:${a.grpc}`;
    const now = await checkOnce(address, checkRequest(`/${revision}`));
    const before = await checkOnce(address, checkRequest(`/${previous}`));
    if (now !== OK || before !== PERMISSION_DENIED) throw new Error(`agent ${a.index}: /${revision} answered ${now}, /${previous} answered ${before}; expected ${OK} and ${PERMISSION_DENIED}`);
  }
}

/**
 * VmRSS of a process, from /proc (0 when gone).
 * @param {number | undefined} pid
 */
function rssKiB(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** @param {number[]} values */
function summary(values) {
  const sorted = Float64Array.from(values).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

async function main() {
  console.log(`bundle propagation: ${AGENTS} agents, ${ROUNDS} rounds, long polling (wait=${LONG_POLL_SECONDS})`);
  console.log(JSON.stringify(describeMachine()));
  const bundles = Array.from({ length: ROUNDS + 1 }, (_, k) => buildBundle(`rev-${k}`));
  const bundleServer = startBundleServer();
  await new Promise((r) => bundleServer.server.listen(0, '127.0.0.1', () => r(undefined)));
  const address = bundleServer.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  bundleServer.publish('rev-0', bundles[0] ?? Buffer.alloc(0));
  const configPath = join(work, 'config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      services: { control: { url: `http://127.0.0.1:${port}` } },
      bundles: { authz: { service: 'control', resource: 'bundles/authz.tar.gz', polling: { long_polling_timeout_seconds: LONG_POLL_SECONDS } } },
    }),
  );
  try {
    const started = performance.now();
    for (let i = 0; i < AGENTS; i += BATCH) await Promise.all(Array.from({ length: Math.min(BATCH, AGENTS - i) }, (_, j) => startAgent(i + j, configPath)));
    console.log(`${AGENTS} agents listening after ${((performance.now() - started) / 1000).toFixed(1)} s; load: ${uptime()}`);
    await until(() => agents.every((a) => a.activations.has('rev-0')) && bundleServer.held() === AGENTS, ROUND_TIMEOUT_MS, () => `rev-0 everywhere (${bundleServer.held()} long polls held)`);
    /** @type {number[]} */
    const all = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const revision = `rev-${round}`;
      const requestsBefore = bundleServer.requests();
      const publishedAt = performance.now();
      bundleServer.publish(revision, bundles[round] ?? Buffer.alloc(0));
      await until(() => agents.every((a) => a.activations.has(revision)), ROUND_TIMEOUT_MS, () => `${revision} on ${agents.filter((a) => a.activations.has(revision)).length}/${AGENTS} agents`);
      const load = uptime();
      const times = agents.map((a) => (a.activations.get(revision) ?? NaN) - publishedAt);
      all.push(...times);
      const s = summary(times);
      await verifyEnforced(revision, `rev-${round - 1}`);
      // The next round starts with every agent waiting in a long poll again.
      await until(() => bundleServer.held() === AGENTS, ROUND_TIMEOUT_MS, () => `long polls held again (${bundleServer.held()})`);
      console.log(
        `round ${round}: p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms, max ${s.max.toFixed(0)} ms; ${bundleServer.requests() - requestsBefore} bundle requests; all ${AGENTS} agents verified over gRPC; load: ${load}`,
      );
    }
    const s = summary(all);
    const rssMiB = agents.reduce((sum, a) => sum + rssKiB(a.child.pid), 0) / 1024;
    console.log(`agents' resident memory: ${rssMiB.toFixed(0)} MiB in all, ${(rssMiB / AGENTS).toFixed(0)} MiB each`);
    console.log(`all rounds (${all.length} activations): p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms, max ${s.max.toFixed(0)} ms`);
  } finally {
    await stopAgents();
    await bundleServer.close();
  }
}

/** SIGTERM, then SIGKILL whatever is still running after 5 s. */
async function stopAgents() {
  const running = agents.filter((a) => a.child.exitCode === null && a.child.signalCode === null);
  await Promise.all(
    running.map(
      (a) =>
        new Promise((resolveStop) => {
          const kill = setTimeout(() => a.child.kill('SIGKILL'), 5000);
          a.child.once('exit', () => {
            clearTimeout(kill);
            resolveStop(undefined);
          });
          a.child.kill('SIGTERM');
        }),
    ),
  );
}

/** Last resort (deadline, signal, crash): no agent outlives the bench. */
function killAll() {
  for (const a of agents) if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}

process.on('exit', killAll);
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.on(signal, () => process.exit(130));
const deadline = setTimeout(() => {
  console.error(`bench exceeded ${DEADLINE_MS / 1000} s; stopping`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
