#!/usr/bin/env node
// The command line: a thin layer over the library (createAgent). Only this file touches process-wide
// things: argv, the environment, signals, stdio errors and exit codes.
import { ConfigError } from '../config/opa-config.js';
import { SettingsError, settingsHelp } from '../config/settings.js';
import { CompileError } from '../engine/compile.js';
import { PolicyLoadError } from '../engine/wasm.js';
import { DecisionLogsConfigError } from '../decisionlog/index.js';
import { createAgent } from '../library.js';
import { createLogger } from '../log.js';
import { defaultDataDir } from '../resources/runtime.js';

/** Commands that talk to a running agent's REST API, as kumactl talks to a control plane. */
const CLIENT_COMMANDS = new Set(['apply', 'get', 'delete', 'generate', 'config']);
import { DEFAULT_POLICY } from '../package-info.js';
import type { KmeshOpaAgent } from '../public-types.js';
import { ServiceConfigError } from '../services/index.js';

const USAGE = `Usage: kmesh-opa run [flags] [policy files]
       kmesh-opa envoy-config [flags] [-f OPAPolicy.yaml] [-o json|yaml]
       kmesh-opa apply|get|delete|generate|config ...   (kumactl's commands against a running agent; --help on each)

Serves Envoy's External Authorization API (envoy.service.auth.v3 and v2 Authorization/Check) and decides
every request with an OPA policy compiled to WebAssembly. Policy files: a bundle from
"opa build -t wasm" (.tar.gz), a .wasm module (with --data), or .rego files (compiled with opa).
Without one, the embedded default (the Kong Mesh OPAPolicy JWT example) is enforced.

Signals: SIGTERM and SIGINT stop gracefully (checks drain, decision logs flush, exit 0); SIGHUP reloads
the config file and the policy files without dropping a check.

Flags (flag > environment > OPA config file > default); the library (createAgent) takes the same
settings as options, by their option names:
${settingsHelp()}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  // Loaded on demand: the client's HTTP stack (undici) would otherwise cost every agent memory it never uses.
  if (command === 'envoy-config') return (await import('./envoy-config.js')).printEnvoyConfig(rest, { stdout: process.stdout, stderr: process.stderr, env: process.env });
  if (CLIENT_COMMANDS.has(command)) return (await import('./commands.js')).runClientCommand(command, rest, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
  if (command !== 'run') {
    process.stderr.write(`kmesh-opa: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const agent = await createAgent({ args: rest, env: process.env, fallbackPolicy: { files: [DEFAULT_POLICY] }, defaultDataDir: defaultDataDir(process.env) });
  if (!agent.settings.enabled) {
    createLogger(agent.settings.logLevel).info('kmesh-opa is disabled (KMESH_OPA_ENABLED=false); not starting');
    return 0;
  }
  // A supervisor that died takes the read ends of our stdout and stderr with it: the agent still shuts
  // down cleanly (exit-with-parent) instead of dying on EPIPE.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', ignoreBrokenPipe);
  // Signals are handled from here on, so a supervisor may stop the agent at any point of start-up.
  let stopping = false;
  agent.once('close', () => process.exit(0));
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    agent.log.info('shutting down', { signal });
    void agent.stop();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => reload(agent));
  // The parent's death (exit-with-parent) stops the agent from inside; the process follows it.
  try {
    await agent.start();
  } catch (err) {
    if (stopping) return -1; // a signal during start-up: exiting 0 once stopped
    throw err;
  }
  return -1; // keep running
}

function reload(agent: KmeshOpaAgent): void {
  agent.log.info('reloading the configuration and policy', { signal: 'SIGHUP' });
  agent.reload().then(
    (result) => agent.log.info('reloaded', { revision: result.policy?.revision }),
    (err: unknown) => agent.log.error('reload failed; the running configuration and policy stay', { err: err instanceof Error ? err.message : String(err) }),
  );
}

function ignoreBrokenPipe(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err;
}

/** EADDRINUSE and friends from a listener: the message names the address; no stack needed. */
function isListenError(err: unknown): boolean {
  return err instanceof Error && /EADDRINUSE|EACCES|EADDRNOTAVAIL|No address added out of total/.test(err.message);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const known = err instanceof SettingsError || err instanceof ConfigError || err instanceof ServiceConfigError || err instanceof DecisionLogsConfigError || err instanceof PolicyLoadError || err instanceof CompileError || isListenError(err);
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`kmesh-opa: ${known ? message : (err as Error).stack ?? message}\n`);
    process.exit(1);
  },
);
