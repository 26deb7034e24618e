#!/usr/bin/env node
// A minimal supervisor that runs kmesh-opa the way kuma-dp runs the processes next to Envoy:
//   1. start `kmesh-opa run` with its settings and the data plane's identity in the environment,
//      asking it to exit with its parent and to report readiness on file descriptor 3;
//   2. wait for the readiness line (no polling; EOF without a line means the agent failed);
//   3. send Envoy's Check for one allowed and one denied request;
//   4. stop it with SIGTERM and wait for exit code 0.
// With --hold it keeps the agent running after step 3 until the supervisor itself gets SIGTERM or
// SIGINT (which it forwards); killed outright, it leaves the agent to notice on its own.
//
//   node examples/supervisor.mjs [--hold]
//
// Each step prints one JSON line on stdout; the agent's own logs go to stderr.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const PROTOS = join(ROOT, 'protos');
const READY_FD = 3;
const READY_TIMEOUT_MS = 60_000;
// The JWT of the default policy's example (HS256, secret "secret", role admin, expires 2050).
const ADMIN_TOKEN =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYWRtaW4iLCJzdWIiOiJZbTlpIiwibmJmIjoxNTE0ODUxMTM5LCJleHAiOjI1MjQ2MDgwMDB9.H0-42LYzoWyQ_4MXAcED30u6lA5JE087eECV2nxDfXo';

const hold = process.argv.includes('--hold');
const say = (fields) => process.stdout.write(`${JSON.stringify(fields)}\n`);

// kuma-dp listens on fixed ports; port 0 (any free port, reported in the readiness line) lets this
// example run anywhere. Anything already set in the environment wins.
const agent = spawn(process.execPath, [CLI, 'run'], {
  env: {
    KMESH_OPA_EXT_AUTHZ_ADDR: '127.0.0.1:0',
    KMESH_OPA_ADDR: '127.0.0.1:0',
    KMESH_OPA_DIAGNOSTIC_ADDR: '127.0.0.1:0',
    KUMA_DATAPLANE_MESH: 'default',
    KUMA_DATAPLANE_NAME: 'backend-01',
    ...process.env,
    KMESH_OPA_READY_FD: String(READY_FD),
    KMESH_OPA_EXIT_WITH_PARENT: 'true',
  },
  // stdin closed, stdout and stderr shared with this process, fd 3 a pipe for the readiness line.
  stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
});
const exited = once(agent, 'exit').then(([code, signal]) => ({ code, signal }));

const ready = await Promise.race([readLine(agent.stdio[READY_FD]), exited.then(() => undefined), timeout(READY_TIMEOUT_MS)]);
if (!ready) {
  say({ step: 'failed', reason: 'the agent exited or timed out before it was ready' });
  agent.kill('SIGKILL');
  process.exit(1);
}
const { ports } = JSON.parse(ready);
say({ step: 'ready', agent_pid: agent.pid, ports });

const client = authorizationClient(`127.0.0.1:${ports.grpc}`);
const allowed = await check(client, { authorization: `Bearer ${ADMIN_TOKEN}` });
const denied = await check(client, {});
client.close();
say({ step: 'checked', allowed: allowed.status.code, denied: denied.status.code });

if (hold) {
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => agent.kill('SIGTERM'));
} else {
  agent.kill('SIGTERM');
}
const { code, signal } = await exited;
say({ step: 'stopped', code, signal });
process.exit(code === 0 ? 0 : 1);

/** The first line written to `stream`, or undefined at EOF without one. */
function readLine(stream) {
  return new Promise((resolve) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      text += chunk;
      const nl = text.indexOf('\n');
      if (nl >= 0) resolve(text.slice(0, nl));
    });
    stream.on('end', () => resolve(undefined));
    stream.on('error', () => resolve(undefined));
  });
}

function timeout(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms, undefined).unref());
}

/** Envoy's ext_authz v3 client, from the protos shipped with kmesh-opa. */
function authorizationClient(address) {
  const definition = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [PROTOS], defaults: true });
  const { Authorization } = grpc.loadPackageDefinition(definition).envoy.service.auth.v3;
  return new Authorization(address, grpc.credentials.createInsecure());
}

function check(client, headers) {
  const request = { attributes: { request: { http: { method: 'GET', path: '/', headers } } } };
  return new Promise((resolve, reject) => {
    client.Check(request, { deadline: Date.now() + 10_000 }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}
