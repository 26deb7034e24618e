#!/usr/bin/env node
// Performs a Dockerfile the way a container engine would, on a machine that has none: each stage is a
// directory, COPY and WORKDIR act on it, RUN runs there, and the last stage is started as `docker run`
// would start it (its ENV, WORKDIR, USER, ENTRYPOINT and CMD), then probed with its own HEALTHCHECK and
// with an Envoy Check. What the base images provide stands in from this machine: node and npm on PATH
// for node:*, the opa binary of scripts/install-tools.sh for the Go stage that builds it (at the same
// pinned version), and the unprivileged `nobody` for the image's non-root user.
//
//   node scripts/image-build-check.mjs [Dockerfile]     (KEEP=1 keeps the temporary directory)
//
// Instructions this Dockerfile does not use are refused rather than half-emulated.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOCKERFILE = resolve(process.argv[2] ?? join(ROOT, 'Dockerfile'));
// The build context is the project, whichever Dockerfile is checked (docker build -f FILE .).
const CONTEXT = ROOT;
const TOOLS_BIN = join(ROOT, '.tools', 'bin');
const NOBODY = { uid: 65534, gid: 65534 };
const ADMIN_TOKEN =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYWRtaW4iLCJzdWIiOiJZbTlpIiwibmJmIjoxNTE0ODUxMTM5LCJleHAiOjI1MjQ2MDgwMDB9.H0-42LYzoWyQ_4MXAcED30u6lA5JE087eECV2nxDfXo';
const ADDRESS_VARS = ['KMESH_OPA_EXT_AUTHZ_ADDR', 'KMESH_OPA_ADDR', 'KMESH_OPA_DIAGNOSTIC_ADDR'];

class CheckFailed extends Error {}
const fail = (message) => {
  throw new CheckFailed(message);
};
const step = (message) => process.stdout.write(`image-build-check: ${message}\n`);

// --- parsing -----------------------------------------------------------------------------------------

/** Instructions with continuation lines joined and comments dropped, as the engine's parser reads them. */
function parseDockerfile(text) {
  const instructions = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) || (pending === '' && line.trim() === '')) return;
    if (pending === '') startLine = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const whole = (pending + line).trim();
    pending = '';
    const [keyword] = whole.split(/\s/, 1);
    instructions.push({ keyword: keyword.toUpperCase(), rest: whole.slice(keyword.length).trim(), line: startLine });
  });
  return instructions;
}

/** Leading --name=value flags, then the rest. */
function splitFlags(rest) {
  const flags = {};
  let remaining = rest;
  for (let m = /^--([a-z-]+)=(\S+)\s*/.exec(remaining); m; m = /^--([a-z-]+)=(\S+)\s*/.exec(remaining)) {
    flags[m[1]] = m[2];
    remaining = remaining.slice(m[0].length);
  }
  return { flags, rest: remaining };
}

function execForm(rest, what, line) {
  if (!rest.startsWith('[')) fail(`line ${line}: ${what} must use the exec (JSON) form, so that signals reach the agent`);
  return JSON.parse(rest);
}

/** ${VAR}, ${VAR:-default} and $VAR, as the engine expands them in FROM, ENV, WORKDIR, COPY, USER, EXPOSE. */
function expand(text, vars) {
  return text.replace(/\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)/g, (_, braced, fallback, bare) => vars[braced ?? bare] ?? fallback ?? '');
}

/** `k=v k2="v 2"` pairs of ENV and ARG. */
function pairs(text) {
  const out = [];
  for (const m of text.matchAll(/(\w+)(?:=("(?:[^"\\]|\\.)*"|\S*))?/g)) out.push([m[1], m[2]?.startsWith('"') ? JSON.parse(m[2]) : m[2]]);
  return out;
}

// --- building ----------------------------------------------------------------------------------------

/**
 * Runs the stages in `workDir`; with `dryRun` only reads them (what each stage sets), so that the
 * image's shape is checked before minutes go into building it.
 */
function build(instructions, workDir, dryRun) {
  const globalArgs = {};
  const stages = [];
  let stage;
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [image, as, name] = expand(ins.rest, globalArgs).split(/\s+/);
      if (as && as.toUpperCase() !== 'AS') fail(`line ${ins.line}: cannot read FROM ${ins.rest}`);
      stage = { index: stages.length, name, image, root: join(workDir, `stage-${stages.length}`), workdir: '/', args: {}, env: {}, user: 'root', expose: [], dryRun };
      stages.push(stage);
      if (dryRun) continue;
      mkdirSync(stage.root, { recursive: true });
      if (image.startsWith('node:')) provideNodeBase(stage);
      step(`stage ${stage.index} ${name ?? '(final)'} FROM ${image}`);
      continue;
    }
    if (!stage) {
      if (ins.keyword !== 'ARG') fail(`line ${ins.line}: only ARG may come before the first FROM`);
      for (const [k, v] of pairs(ins.rest)) globalArgs[k] = v ?? '';
      continue;
    }
    perform(stage, ins, stages, globalArgs);
  }
  if (stages.length < 2) fail('the image must be built in stages (a build stage and a runtime stage)');
  return stages;
}

function perform(stage, ins, stages, globalArgs) {
  const vars = { ...stage.args, ...stage.env };
  switch (ins.keyword) {
    case 'ARG':
      for (const [k, v] of pairs(ins.rest)) stage.args[k] = v ?? globalArgs[k] ?? '';
      return;
    case 'ENV':
      for (const [k, v] of pairs(ins.rest)) stage.env[k] = expand(v ?? '', vars);
      return;
    case 'WORKDIR':
      stage.workdir = resolve(stage.workdir, expand(ins.rest, vars));
      if (!stage.dryRun) mkdirSync(join(stage.root, stage.workdir), { recursive: true });
      return;
    case 'COPY':
      return copy(stage, ins, stages, vars);
    case 'RUN':
      return run(stage, ins, vars);
    case 'USER':
      stage.user = expand(ins.rest, vars);
      return;
    case 'EXPOSE':
      stage.expose = expand(ins.rest, vars).split(/\s+/).map((p) => Number(p.replace(/\/tcp$/, '')));
      return;
    case 'HEALTHCHECK': {
      const { flags, rest } = splitFlags(ins.rest);
      if (!rest.startsWith('CMD ')) fail(`line ${ins.line}: HEALTHCHECK needs a CMD`);
      stage.healthcheck = { flags, command: execForm(rest.slice(4).trim(), 'HEALTHCHECK CMD', ins.line) };
      return;
    }
    case 'ENTRYPOINT':
      stage.entrypoint = execForm(ins.rest, 'ENTRYPOINT', ins.line);
      return;
    case 'CMD':
      stage.cmd = execForm(ins.rest, 'CMD', ins.line);
      return;
    case 'LABEL':
      return;
    default:
      fail(`line ${ins.line}: ${ins.keyword} is not emulated by this check`);
  }
}

/** What node:* images bring: node and npm (this machine's stand in), and the user "node" with its home. */
function provideNodeBase(stage) {
  const home = join(stage.root, 'home', 'node');
  mkdirSync(home, { recursive: true });
  if (process.getuid?.() === 0) chownSync(home, NOBODY.uid, NOBODY.gid);
}

function copy(stage, ins, stages, vars) {
  const { flags, rest } = splitFlags(ins.rest);
  for (const f of Object.keys(flags)) if (f !== 'from') fail(`line ${ins.line}: COPY --${f} is not emulated by this check`);
  const parts = expand(rest, vars).split(/\s+/);
  const dest = parts.pop();
  let fromRoot = CONTEXT;
  if (flags.from) {
    const source = stages.find((s) => s.name === flags.from || String(s.index) === flags.from);
    if (!source) fail(`line ${ins.line}: COPY --from=${flags.from} names no earlier stage`);
    fromRoot = source.root;
  }
  const target = join(stage.root, dest.startsWith('/') ? dest : join(stage.workdir, dest));
  const intoDir = dest.endsWith('/') || parts.length > 1;
  for (const src of parts) {
    if (/[*?[]/.test(src)) fail(`line ${ins.line}: COPY wildcards are not emulated by this check`);
    if (stage.dryRun) continue;
    const from = join(fromRoot, src);
    if (!existsSync(from)) fail(`line ${ins.line}: COPY source ${src} does not exist${flags.from ? ` in stage ${flags.from}` : ' in the build context'}`);
    const to = intoDir && !statSync(from).isDirectory() ? join(target, basename(src)) : target;
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to, { recursive: true });
  }
}

function run(stage, ins, vars) {
  if (stage.image.startsWith('golang:')) return provideGoTool(stage, ins, vars);
  if (ins.rest.startsWith('[')) fail(`line ${ins.line}: RUN in exec form is not emulated by this check`);
  // A path outside the stage would touch this machine instead of the image.
  if (/(^|[\s=:'"])\/[A-Za-z]/.test(ins.rest)) fail(`line ${ins.line}: RUN with an absolute path cannot be emulated here; keep RUN steps inside WORKDIR`);
  if (stage.dryRun) return;
  const started = Date.now();
  // The npm cache of this machine plays the role of a build cache.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_prefer_offline: 'true', ...vars };
  const res = spawnSync('sh', ['-c', ins.rest], { cwd: join(stage.root, stage.workdir), env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (res.status !== 0) fail(`line ${ins.line}: RUN ${ins.rest} exited ${res.status}:\n${res.stdout}\n${res.stderr}`);
  step(`RUN ${ins.rest} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** `GOBIN=/out ... go install module@version`: the same tool at the same version from scripts/install-tools.sh. */
function provideGoTool(stage, ins, vars) {
  const command = expand(ins.rest, vars);
  const m = /go install (\S+)@(\S+)/.exec(command);
  const gobin = /GOBIN=(\S+)/.exec(command)?.[1];
  if (!m || !gobin) fail(`line ${ins.line}: the Go stage must "GOBIN=<dir> go install <module>@<version>"`);
  const [, module, version] = m;
  const tool = basename(module);
  const stamp = join(TOOLS_BIN, `.${tool}.version`);
  const installed = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : 'nothing';
  if (installed !== version) fail(`the Dockerfile builds ${tool} ${version} but scripts/install-tools.sh pins ${installed}: keep them equal`);
  if (stage.dryRun) return;
  const to = join(stage.root, gobin, tool);
  mkdirSync(dirname(to), { recursive: true });
  cpSync(join(TOOLS_BIN, tool), to);
  step(`go install ${module}@${version}: ${tool} ${version} from scripts/install-tools.sh`);
}

// --- what the issue asks of the image ----------------------------------------------------------------

function checkImage(stages) {
  const final = stages[stages.length - 1];
  if (!stages.some((s) => s.image.startsWith('golang:'))) fail('the opa compiler must be built in a Go stage');
  if (!final.image.startsWith('node:')) fail(`the runtime stage must be a Node.js image, not ${final.image}`);
  if (['root', '0', ''].includes(final.user.split(':')[0])) fail('the runtime stage must switch to a non-root USER');
  for (const name of ADDRESS_VARS) {
    const port = Number(final.env[name]?.split(':').pop());
    if (!final.env[name]) fail(`the runtime stage must set ${name}`);
    if (!final.expose.includes(port)) fail(`${name}=${final.env[name]} but port ${port} is not in EXPOSE ${final.expose.join(' ')}`);
  }
  if (!final.healthcheck) fail('the runtime stage needs a HEALTHCHECK');
  const bin = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin['kmesh-opa'];
  const command = [...(final.entrypoint ?? []), ...(final.cmd ?? [])];
  if (JSON.stringify(command) !== JSON.stringify(['node', bin, 'run'])) fail(`ENTRYPOINT + CMD must run "kmesh-opa run" (node ${bin} run), not ${JSON.stringify(command)}`);
  step('image shape: multi-stage, opa built in a Go stage at the pinned version, non-root, ports exposed, healthcheck, kmesh-opa run');
}

function checkBuilt(final) {
  const modules = join(final.root, final.workdir, 'node_modules');
  for (const dev of ['typescript', 'vitest']) if (existsSync(join(modules, dev))) fail(`the runtime has the development dependency ${dev}`);
  step('runtime: production dependencies only');
}

// --- running -----------------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** An image path in an ENV value (KMESH_OPA_COMPILER=/usr/local/bin/opa) points into the stage here. */
function containerEnv(stage, overrides) {
  const env = {};
  for (const [k, v] of Object.entries(stage.env)) env[k] = v.startsWith('/') && existsSync(join(stage.root, v)) ? join(stage.root, v) : v;
  return { PATH: process.env.PATH, HOME: join(stage.root, 'home', stage.user.split(':')[0]), ...env, ...overrides };
}

/** `docker run`: the command as the image's user (nobody here) when this check runs as root. */
function asImageUser(command) {
  if (process.getuid?.() !== 0) return command;
  return ['setpriv', `--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', '--', ...command];
}

async function waitHealthy(stage, env, cwd, agent) {
  const startPeriodMs = parseDuration(stage.healthcheck.flags['start-period'] ?? '0s') + 30_000;
  const deadline = Date.now() + startPeriodMs;
  const [cmd, ...args] = asImageUser(stage.healthcheck.command);
  while (Date.now() < deadline) {
    if (agent.exitCode !== null) fail(`the agent exited with ${agent.exitCode} before it was healthy`);
    const res = spawnSync(cmd, args, { cwd, env, timeout: parseDuration(stage.healthcheck.flags.timeout ?? '30s') });
    if (res.status === 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  fail('the HEALTHCHECK never passed');
}

function parseDuration(text) {
  const m = /^(\d+)(ms|s|m)$/.exec(text);
  if (!m) fail(`cannot read the duration ${text}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2]];
}

async function checkOverGrpc(protos, port) {
  const grpc = await import('@grpc/grpc-js');
  const protoLoader = await import('@grpc/proto-loader');
  const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [protos], defaults: true });
  const { Authorization } = grpc.loadPackageDefinition(def).envoy.service.auth.v3;
  const client = new Authorization(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const check = (headers) =>
    new Promise((res, rej) => client.Check({ attributes: { request: { http: { method: 'GET', path: '/', headers } } } }, { deadline: Date.now() + 10_000 }, (e, r) => (e ? rej(e) : res(r.status.code))));
  try {
    return { allowed: await check({ authorization: `Bearer ${ADMIN_TOKEN}` }), denied: await check({}) };
  } finally {
    client.close();
  }
}

function uidOf(pid) {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

async function runImage(stage) {
  const ports = { grpc: await freePort(), rest: await freePort(), diagnostics: await freePort() };
  // As `docker run -e`: free loopback ports instead of the image's fixed ones, nothing else.
  const env = containerEnv(stage, {
    KMESH_OPA_EXT_AUTHZ_ADDR: `127.0.0.1:${ports.grpc}`,
    KMESH_OPA_ADDR: `127.0.0.1:${ports.rest}`,
    KMESH_OPA_DIAGNOSTIC_ADDR: `127.0.0.1:${ports.diagnostics}`,
  });
  const cwd = join(stage.root, stage.workdir);
  const [cmd, ...args] = asImageUser([...stage.entrypoint, ...stage.cmd]);
  const agent = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'inherit', 'pipe'] });
  let logs = '';
  agent.stderr.on('data', (d) => (logs += d));
  const exited = new Promise((r) => agent.on('exit', (code, signal) => r({ code, signal })));
  try {
    await waitHealthy(stage, env, cwd, agent);
    step(`HEALTHCHECK passes on the diagnostics port ${ports.diagnostics}`);
    const uid = uidOf(agent.pid);
    if (process.getuid?.() === 0 && uid !== NOBODY.uid) fail(`the agent runs as uid ${uid}, not as the image's unprivileged user`);
    step(`the agent runs as uid ${uid}`);
    const codes = await checkOverGrpc(join(cwd, 'protos'), ports.grpc);
    if (codes.allowed !== 0 || codes.denied !== 7) fail(`Check answered ${JSON.stringify(codes)}, expected allowed 0 and denied 7`);
    step('Check over gRPC: the admin token is allowed (0), no token is denied (7)');
    if (!existsSync(join(env.HOME, '.cache', 'kmesh-opa'))) fail('the compiled default policy was not cached in the user\'s home');
  } catch (err) {
    agent.kill('SIGKILL');
    process.stderr.write(logs);
    throw err;
  }
  agent.kill('SIGTERM');
  const { code, signal } = await exited;
  if (code !== 0) fail(`docker stop: the agent exited with ${code ?? signal}\n${logs}`);
  step('docker stop (SIGTERM): exit 0');
}

// --- main --------------------------------------------------------------------------------------------

async function main() {
  const workDir = mkdtempSync(join(tmpdir(), 'kmesh-opa-image-'));
  // The image's user must reach its files, as it can inside an image.
  chmodSync(workDir, 0o755);
  try {
    const instructions = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
    checkImage(build(instructions, workDir, true));
    const stages = build(instructions, workDir, false);
    const final = stages[stages.length - 1];
    checkBuilt(final);
    const nodeMajor = /^node:(\d+)/.exec(final.image)?.[1];
    if (nodeMajor && nodeMajor !== process.versions.node.split('.')[0]) step(`note: the image runs Node.js ${nodeMajor}; this check runs it on ${process.version}`);
    await runImage(final);
    step('ok');
  } finally {
    if (process.env.KEEP) step(`kept ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`image-build-check: ${err instanceof CheckFailed ? err.message : err.stack}\n`);
  process.exit(1);
});
