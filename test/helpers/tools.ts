// The real tools the tests run: the opa compiler (installed by scripts/install-tools.sh) and the agent.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const POLICIES = join(ROOT, 'test', 'policies');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** The opa binary: the project's tool folder, else PATH. Fails loudly: these tests need the real compiler. */
export function opaBinary(): string {
  const local = join(ROOT, '.tools', 'bin', 'opa');
  if (existsSync(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, 'opa'))) return join(dir, 'opa');
  throw new Error('opa not found: run "bash scripts/install-tools.sh" first');
}

/** Builds test/policies/<name>.rego (or several files) with `opa build -t wasm`; returns the bundle path. */
export function buildBundle(files: string[], entrypoints: string[] = ['envoy/authz/allow'], opts: { v0?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-test-'));
  const out = join(dir, 'bundle.tar.gz');
  const args = ['build', '-t', 'wasm', ...entrypoints.flatMap((e) => ['-e', e]), '-o', out];
  if (opts.v0) args.push('--v0-compatible');
  execFileSync(opaBinary(), [...args, ...files.map((f) => (f.startsWith('/') ? f : join(POLICIES, f)))], { stdio: 'pipe' });
  return out;
}

export interface AgentProcess {
  child: ChildProcess;
  /** ext_authz gRPC port. */
  port: number;
  address: string;
  /** REST API and diagnostics base URLs. */
  restUrl: string;
  diagnosticsUrl: string;
  stderr(): string;
  stdout(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `kmesh-opa run` on a free port and waits until its listener is open. */
export async function startAgent(args: string[], env: Record<string, string> = {}): Promise<AgentProcess> {
  const listeners = ['--opa-ext-authz-addr', '127.0.0.1:0', '--opa-addr', '127.0.0.1:0', '--opa-diagnostic-addr', '127.0.0.1:0'];
  const child = spawn(process.execPath, [CLI, 'run', ...listeners, ...args], {
    // Each agent gets its own data directory (token key, API-written resources), so no test sees another's.
    env: { ...process.env, KMESH_OPA_CACHE_DIR: join(ROOT, '.cache', 'test-compile'), KMESH_OPA_DATA_DIR: mkdtempSync(join(tmpdir(), 'kmesh-opa-data-')), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const portOf = (msg: string) => Number(new RegExp(`"msg":"${msg}"[^\\n]*"port":(\\d+)`).exec(err)?.[1]);
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not start in time:\n${err}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      // The diagnostics listener opens last.
      if (portOf('diagnostics listening')) {
        clearTimeout(timer);
        resolvePort(portOf('ext_authz gRPC server listening'));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code} before listening:\n${err}`));
    });
  });
  return {
    child,
    port,
    address: `127.0.0.1:${port}`,
    restUrl: `http://127.0.0.1:${portOf('REST API listening')}`,
    diagnosticsUrl: `http://127.0.0.1:${portOf('diagnostics listening')}`,
    stderr: () => err,
    stdout: () => out,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolveStop) => {
        if (child.exitCode !== null) return resolveStop(child.exitCode);
        child.once('exit', (code) => resolveStop(code));
        child.kill(signal);
      }),
  };
}

/** Runs the CLI to completion (for start-up failures). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolveRun({ code, stdout, stderr }));
  });
}

export function readPolicy(name: string): string {
  return readFileSync(join(POLICIES, name), 'utf8');
}
