// `kmesh-opa envoy-config`: the Envoy filter and cluster that point a listener at this agent, for the
// OPAPolicy a file gives, or else the one the agent would select from its resources directory, with
// the same settings (flags, environment, config file) as `kmesh-opa run`.
import type { Writable } from 'node:stream';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { loadConfig } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import { isResourceFile } from '../resources/directory.js';
import { envoyConfig, type EnvoyConfigOptions } from '../resources/envoy-config.js';
import { authConfigOf, validateOpaPolicy } from '../resources/opapolicy.js';
import { dataplaneIdentity } from '../resources/runtime.js';
import { selectPolicy } from '../resources/selection.js';
import type { Resource } from '../resources/types.js';

const USAGE = `Usage: kmesh-opa envoy-config [run flags] [-f OPAPolicy.yaml] [-o json|yaml]

Prints the Envoy configuration (ext_authz HTTP filter, router, and the HTTP/2 cluster of this agent) for
the OPAPolicy in -f, or else for the one this agent selects from --resources-dir with its data plane
identity (--dataplane-tags / --dataplane-file); without either, for the agent's own settings
(--status-on-error, --on-agent-failure, --request-body-*). The address is --opa-ext-authz-addr.
`;

interface Io {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

export async function printEnvoyConfig(argv: readonly string[], io: Io): Promise<number> {
  const args = [...argv];
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    const file = takeOption(args, '-f', '--file');
    const output = takeOption(args, '-o', '--output') ?? 'json';
    if (output !== 'json' && output !== 'yaml') {
      io.stderr.write(`kmesh-opa envoy-config: -o must be json or yaml, not ${JSON.stringify(output)}\n`);
      return 2;
    }
    const { settings } = await loadConfig(args, io.env);
    const policy = file ? await policyFromFile(file) : await selectedPolicy(settings);
    const config = envoyConfig({ extAuthzAddr: settings.extAuthzAddr, authConfig: effectiveAuthConfig(settings, policy) });
    io.stdout.write(output === 'json' ? `${JSON.stringify(config, null, 2)}\n` : stringify(config));
    return 0;
  } catch (err) {
    // Bad flags, an unreadable file, YAML that does not parse, an invalid OPAPolicy, a status Envoy
    // cannot carry: one line, exit 1.
    io.stderr.write(`kmesh-opa envoy-config: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** The OPAPolicy's authConfig over the agent's settings, as the running agent applies it. */
function effectiveAuthConfig(settings: Settings, policy: Resource | undefined): EnvoyConfigOptions['authConfig'] {
  const overlay = policy ? authConfigOf((policy.conf as { authConfig?: Record<string, unknown> }).authConfig) : {};
  return {
    statusOnError: overlay.statusOnError ?? settings.statusOnError,
    onAgentFailure: overlay.onAgentFailure ?? settings.onAgentFailure,
    maxSize: overlay.maxSize ?? settings.requestBodyMaxSize,
    sendRawBody: overlay.sendRawBody ?? settings.requestBodySendRaw,
  };
}

/** Removes `-f X`, `-f=X`, `--file X` or `--file=X` from args and returns X. */
function takeOption(args: string[], short: string, long: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    for (const flag of [short, long]) {
      if (arg === flag) {
        const value = args[i + 1];
        if (value === undefined) throw new Error(`${flag} needs a value`);
        args.splice(i, 2);
        return value;
      }
      if (arg.startsWith(`${flag}=`)) {
        args.splice(i, 1);
        return arg.slice(flag.length + 1);
      }
    }
  }
  return undefined;
}

async function policyFromFile(path: string): Promise<Resource> {
  const policies = opaPolicies(await readFile(path, 'utf8'), path);
  if (policies.length !== 1) throw new Error(`${path}: expected one OPAPolicy, found ${policies.length}`);
  return policies[0]!;
}

/** The OPAPolicy the agent would apply: from the resources directory, matched against the data plane identity. */
async function selectedPolicy(settings: Settings): Promise<Resource | undefined> {
  if (!settings.resourcesDir) return undefined;
  const dir = settings.resourcesDir;
  const files = (await readdir(dir)).filter(isResourceFile).sort();
  const policies = (await Promise.all(files.map(async (f) => opaPolicies(await readFile(join(dir, f), 'utf8'), join(dir, f))))).flat();
  const identity = await dataplaneIdentity(settings);
  const mesh = identity?.mesh ?? settings.dataplaneMesh;
  return selectPolicy(policies.filter((p) => p.mesh === mesh), identity)?.policy;
}

function opaPolicies(text: string, path: string): Resource[] {
  const out: Resource[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as unknown;
    if (typeof value !== 'object' || value === null || (value as Resource).type !== 'OPAPolicy') continue;
    const violations = validateOpaPolicy(value as Resource);
    if (violations.length > 0) throw new Error(`${path}: OPAPolicy ${(value as Resource).name}: ${violations.map((v) => `${v.field}: ${v.message}`).join('; ')}`);
    out.push(value as Resource);
  }
  return out;
}
