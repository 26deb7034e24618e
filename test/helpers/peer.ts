// The reference: the Go OPA-Envoy plugin (v1.19.1), run as in production, so differential tests can send
// the same CheckRequest to it and to kmesh-opa and compare what comes back. It is never skipped: without
// the binary the suites fail and say how to provide it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { ROOT } from './tools.js';

const LOCAL_BINARY = join(ROOT, '.tools', 'bin', 'opa-envoy-plugin');
// The steering checkout keeps shared/ beside the project's clone (locally and in CI alike).
const BUILD_SCRIPT = resolve(ROOT, '..', 'shared', 'peers', 'build-opa-envoy-plugin.sh');
const HOW_TO_PROVIDE =
  'set OPA_ENVOY_PLUGIN to an opa-envoy-plugin v1.19.1 binary (e.g. copied from the openpolicyagent/opa:1.19.1-envoy image), ' +
  `put one at ${LOCAL_BINARY}, or make ${BUILD_SCRIPT} available with Go on PATH so the tests can build it`;

let cachedBinary: string | undefined;

/** The plugin binary: $OPA_ENVOY_PLUGIN, else .tools/bin/opa-envoy-plugin, else built from ../shared/peers. */
export function pluginBinary(): string {
  if (cachedBinary) return cachedBinary;
  const fromEnv = process.env.OPA_ENVOY_PLUGIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`OPA_ENVOY_PLUGIN=${fromEnv} does not exist: ${HOW_TO_PROVIDE}`);
    return (cachedBinary = fromEnv);
  }
  if (existsSync(LOCAL_BINARY)) return (cachedBinary = LOCAL_BINARY);
  if (!existsSync(BUILD_SCRIPT)) throw new Error(`the reference opa-envoy-plugin is needed and none was found: ${HOW_TO_PROVIDE}`);
  try {
    const out = execFileSync('bash', [BUILD_SCRIPT, join(ROOT, '.tools', 'bin')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 170_000 });
    const built = out.trim().split('\n').pop() ?? '';
    if (!existsSync(built)) throw new Error(`the build script printed "${built}", which does not exist`);
    return (cachedBinary = built);
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr ?? (err as Error).message;
    throw new Error(`building the reference opa-envoy-plugin failed (${detail.trim()}): ${HOW_TO_PROVIDE}`);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface PluginOptions {
  /** Rego v0 policy (`--v0-compatible`). */
  v0?: boolean;
  /** plugins.envoy_ext_authz_grpc.path (default envoy/authz/allow). */
  path?: string;
  /** plugins.envoy_ext_authz_grpc.query; wins over path when set. */
  query?: string;
}

export interface PluginProcess {
  child: ChildProcess;
  /** 127.0.0.1:port of the ext_authz gRPC listener. */
  address: string;
  stderr(): string;
  /** Each console decision log entry (decision_logs.console=true), oldest first. */
  decisions(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Starts the plugin on free 127.0.0.1 ports with the given policy files and waits for its gRPC server. */
export async function startPlugin(policyFiles: string[], options: PluginOptions = {}): Promise<PluginProcess> {
  const binary = pluginBinary();
  const [http, diagnostic, grpcPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const args = [
    'run',
    '--server',
    '--addr',
    `127.0.0.1:${http}`,
    '--diagnostic-addr',
    `127.0.0.1:${diagnostic}`,
    '--set',
    `plugins.envoy_ext_authz_grpc.addr=127.0.0.1:${grpcPort}`,
    '--set',
    `plugins.envoy_ext_authz_grpc.path=${options.path ?? 'envoy/authz/allow'}`,
    ...(options.query ? ['--set', `plugins.envoy_ext_authz_grpc.query=${options.query}`] : []),
    '--set',
    'decision_logs.console=true',
    ...(options.v0 ? ['--v0-compatible'] : []),
    ...policyFiles,
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((ready, reject) => {
    const timer = setTimeout(() => reject(new Error(`opa-envoy-plugin did not start in time:\n${err}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      // Logged right after the listener is bound, just before it serves.
      if (err.includes('"msg":"Starting gRPC server."')) {
        clearTimeout(timer);
        ready();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`opa-envoy-plugin exited with ${code} before serving:\n${err}`));
    });
  });
  return {
    child,
    address: `127.0.0.1:${grpcPort}`,
    stderr: () => err,
    decisions: () => consoleDecisions(out + err),
    stop: () =>
      new Promise((stopped) => {
        if (child.exitCode !== null || child.signalCode !== null) return stopped();
        child.once('exit', () => stopped());
        child.kill('SIGTERM');
      }),
  };
}

function consoleDecisions(text: string): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"msg":"Decision Log"')) continue;
    entries.push(JSON.parse(line) as Record<string, unknown>);
  }
  return entries;
}
