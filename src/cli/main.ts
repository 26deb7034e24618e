#!/usr/bin/env node
// The command line: parses argv and the environment, then drives the library. Only this file touches
// process-wide things (argv, env, signals, exit codes).
import { Agent } from '../agent.js';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../config/opa-config.js';
import { SettingsError, settingsHelp } from '../config/settings.js';
import { createLogger } from '../log.js';
import { CompileError } from '../engine/compile.js';
import { PolicyLoadError } from '../engine/wasm.js';
import { DecisionLogsConfigError } from '../decisionlog/index.js';
import { ServiceConfigError } from '../services/index.js';

const USAGE = `Usage: kmesh-opa run [flags] [policy files]

Serves Envoy's External Authorization API (envoy.service.auth.v3 and v2 Authorization/Check) and decides
every request with an OPA policy compiled to WebAssembly. Policy files: a bundle from
"opa build -t wasm" (.tar.gz), a .wasm module (with --data), or .rego files (compiled with opa).
Without one, the embedded default (the Kong Mesh OPAPolicy JWT example) is enforced.

Flags (flag > environment > default):
${settingsHelp()}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'run') {
    process.stderr.write(`kmesh-opa: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { settings, positional, opaConfig } = await loadConfig(rest, process.env);
  if (!settings.enabled) {
    createLogger(settings.logLevel).info('kmesh-opa is disabled (KMESH_OPA_ENABLED=false); not starting');
    return 0;
  }
  const agent = new Agent(settings, { env: process.env, opaConfig });
  // Signals are handled from here on, so a supervisor may stop the agent at any point of start-up.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    agent.log.info('shutting down', { signal });
    void agent.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await agent.loadConfiguredPolicy(positional);
  if (!stopping) await agent.start();
  return -1; // keep running
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
