// The client commands (apply, get, delete, generate user-token, config control-planes): kumactl's commands,
// flags, output and messages, against the agent's Kuma-style resource API. Exit codes: 0 done, 1 refused
// or failed (server, validation, connection), 2 a command line that cannot be acted on.
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { request } from 'undici';
import { parseAllDocuments, stringify } from 'yaml';
import { RESOURCE_KINDS, type ResourceKind } from '../resources/types.js';
import { flagsHelp, goDurationString, parseArgs, UsageError, type FlagSpecs, type ParsedArgs } from './args.js';
import { ApiClient, type ApiResource, type ApiResourceList, type ApiTarget } from './client.js';
import {
  addControlPlane,
  ctlConfigPath,
  currentControlPlane,
  DEFAULT_ADDRESS,
  loadCtlConfig,
  removeControlPlane,
  saveCtlConfig,
  switchControlPlane,
  type ControlPlane,
  type CtlConfig,
} from './ctl-config.js';

export interface ClientIo {
  stdin: NodeJS.ReadableStream;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

/** Runs `kmesh-opa <command> <argv...>`; resolves to the exit code. */
export async function runClientCommand(command: string, argv: string[], io: ClientIo): Promise<number> {
  const found = findCommand(command, argv);
  if ('error' in found) {
    io.stderr.write(`Error: ${found.error}\n${found.help}`);
    return 2;
  }
  if (!('run' in found.node)) {
    const asked = found.rest.includes('--help') || found.rest.includes('-h');
    (asked ? io.stdout : io.stderr).write(groupHelp(found.path, found.node));
    return asked ? 0 : 2;
  }
  const cmd = found.node;
  try {
    const args = parseArgs(found.rest, cmd.flags);
    if (args.help) {
      io.stdout.write(commandHelp(cmd));
      return 0;
    }
    await cmd.run(args, io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`Error: ${err.message}\nRun 'kmesh-opa ${found.path} --help' for usage.\n`);
      return 2;
    }
    io.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

// ---- the command tree ----------------------------------------------------------------------------

interface Command {
  summary: string;
  usage: string;
  examples?: string;
  flags: FlagSpecs;
  run(args: ParsedArgs, io: ClientIo): Promise<void>;
}

interface Group {
  summary: string;
  children: Readonly<Record<string, Command | Group>>;
}

type Found = { node: Command | Group; path: string; rest: string[] } | { error: string; help: string };

function findCommand(command: string, argv: string[]): Found {
  let node: Command | Group | undefined = TREE.children[command];
  if (node === undefined) return { error: `unknown command ${JSON.stringify(command)} for "kmesh-opa"`, help: groupHelp('', TREE) };
  let path = command;
  let rest = argv;
  while (!('run' in node) && rest[0] !== undefined && !rest[0].startsWith('-')) {
    const child: Command | Group | undefined = node.children[rest[0]];
    if (child === undefined) return { error: `unknown command ${JSON.stringify(rest[0])} for "kmesh-opa ${path}"`, help: groupHelp(path, node) };
    path = `${path} ${rest[0]}`;
    node = child;
    rest = rest.slice(1);
  }
  return { node, path, rest };
}

function groupHelp(path: string, group: Group): string {
  const names = Object.keys(group.children);
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((n) => `  ${n.padEnd(width)}   ${group.children[n]!.summary}\n`).join('');
  const prefix = path ? `kmesh-opa ${path}` : 'kmesh-opa';
  return `${group.summary}\n\nUsage:\n  ${prefix} COMMAND\n\nCommands:\n${lines}\nRun '${prefix} COMMAND --help' for a command's flags.\n`;
}

function commandHelp(cmd: Command): string {
  const examples = cmd.examples ? `\nExamples:\n${cmd.examples}` : '';
  return `${cmd.summary}\n\nUsage:\n  kmesh-opa ${cmd.usage}\n${examples}\nFlags:\n${flagsHelp(cmd.flags)}`;
}

// ---- flags shared by the commands that call the API ----------------------------------------------

const CONFIG_FILE_FLAG: FlagSpecs = {
  'config-file': { kind: 'string', value: 'path', help: 'control-planes file (default $KMESH_OPA_CTL_CONFIG or ~/.kmesh-opa/config.yaml)' },
};

const API_FLAGS: FlagSpecs = {
  ...CONFIG_FILE_FLAG,
  address: { kind: 'string', value: 'url', help: `API address to use instead of the active control plane's (then only --token authenticates; default ${DEFAULT_ADDRESS} when none is saved)` },
  token: { kind: 'string', value: 'token', help: "user token to send instead of the active control plane's" },
  'api-timeout': { kind: 'duration', value: 'duration', default: '1m0s', help: 'timeout of each API call; 0 means none' },
};

const MESH_FLAG: FlagSpecs = { mesh: { kind: 'string', short: 'm', value: 'mesh', default: 'default', help: 'mesh to use' } };

/** The API target: --address (with --token only) or the active control plane, --token replacing its token. */
async function apiTarget(args: ParsedArgs, env: NodeJS.ProcessEnv): Promise<ApiTarget> {
  const timeoutMs = Number((args.durations.get('api-timeout') ?? 60_000_000_000n) / 1_000_000n);
  const token = args.strings.get('token');
  const address = args.strings.get('address');
  // A saved token goes only to the address it was saved for.
  if (address !== undefined) return { address: validAddress(address), timeoutMs, ...(token ? { token } : {}) };
  const cp = currentControlPlane(await loadCtlConfig(ctlConfigPath(env, args.strings.get('config-file'))));
  if (cp === undefined) return { address: DEFAULT_ADDRESS, timeoutMs, ...(token ? { token } : {}) };
  const saved = cp.authType === 'tokens' ? cp.authConf?.token : undefined;
  const chosen = token ?? saved;
  return {
    address: cp.address,
    timeoutMs,
    ...(chosen ? { token: chosen } : {}),
    ...(cp.skipVerify ? { skipVerify: true } : {}),
    ...(cp.caCertFile ? { caCert: await readFile(cp.caCertFile, 'utf8') } : {}),
    ...(cp.headers ? { headers: cp.headers } : {}),
  };
}

async function withClient<T>(args: ParsedArgs, env: NodeJS.ProcessEnv, use: (client: ApiClient) => Promise<T>): Promise<T> {
  const client = new ApiClient(await apiTarget(args, env));
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

function validAddress(address: string): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new UsageError(`API Server URL is invalid: ${JSON.stringify(address)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`API Server URL is invalid: ${JSON.stringify(address)} is not http:// or https://`);
  return address;
}

// ---- resource kinds ------------------------------------------------------------------------------

/** kumactl's singular argument: the path without its plural ending (opapolicies -> opapolicy). */
function singularOf(path: string): string {
  return path.endsWith('ies') ? `${path.slice(0, -3)}y` : path.replace(/s$/, '');
}

const KINDS_BY_NAME: ReadonlyMap<string, ResourceKind> = new Map(
  RESOURCE_KINDS.flatMap((kind) => [kind.path, singularOf(kind.path), kind.type.toLowerCase()].map((name): [string, ResourceKind] => [name, kind])),
);

const KIND_ARGS = RESOURCE_KINDS.flatMap((kind) => [kind.path, singularOf(kind.path)]).sort().join(', ');

const KINDS_BY_TYPE: ReadonlyMap<string, ResourceKind> = new Map(RESOURCE_KINDS.map((kind) => [kind.type, kind]));

/** A kind by its path (`opapolicies`), singular (`opapolicy`) or type (`OPAPolicy`), any case. */
export function resolveKind(name: string): ResourceKind {
  const kind = KINDS_BY_NAME.get(name.toLowerCase());
  if (kind === undefined) throw new UsageError(`unknown TYPE: ${name}. Allowed values: ${KIND_ARGS} (or the type name: ${RESOURCE_KINDS.map((k) => k.type).join(', ')})`);
  return kind;
}

function meshOf(kind: ResourceKind, args: ParsedArgs): string {
  return kind.scope === 'mesh' ? (args.strings.get('mesh') ?? 'default') : '';
}

// ---- apply ---------------------------------------------------------------------------------------

const APPLY: Command = {
  summary: 'Create or modify resources (OPAPolicy, Secret, GlobalSecret, AccessRole, AccessRoleBinding)',
  usage: 'apply -f FILE|DIR|URL|- [flags]',
  examples: `  kmesh-opa apply -f policy.yaml
  echo "type: AccessRoleBinding
  name: default
  subjects:
  - type: Group
    name: mesh-system:admin
  roles:
  - admin" | kmesh-opa apply -f -
  kmesh-opa apply -f resources/            # every .yaml, .yml and .json file in it
  kmesh-opa apply -f policy.yaml -v service=backend --dry-run
`,
  flags: {
    file: { kind: 'string', short: 'f', required: true, value: 'path', help: 'file, directory (its .yaml, .yml and .json files), http(s) URL, or - for stdin' },
    var: { kind: 'map', short: 'v', value: 'key=value', help: 'replace {{key}} in the input with value (repeatable)' },
    'dry-run': { kind: 'bool', help: 'print the resources after substitution instead of applying them' },
    ...API_FLAGS,
  },
  async run(args, io) {
    const text = await readInput(args.strings.get('file')!, io.stdin);
    if (text.trim() === '') throw new Error('no resource(s) passed to apply');
    const vars = args.maps.get('var');
    const resources = parseResources(vars ? renderVars(text, vars) : text, io.stderr);
    if (args.bools.has('dry-run')) {
      io.stdout.write(resources.map(({ resource }) => resourceYaml(resource)).join('---\n'));
      return;
    }
    await withClient(args, io.env, async (client) => {
      for (const [i, { kind, resource }] of resources.entries()) {
        const where = `resource type=${JSON.stringify(resource.type)} mesh=${JSON.stringify(resource.mesh ?? '')} name=${JSON.stringify(resource.name)}`;
        let result: { created: boolean; warnings: string[] };
        try {
          result = await client.put(kind, resource);
        } catch (err) {
          // One document: the server's words alone, as kumactl shows them; several: which one failed.
          if (resources.length === 1) throw err;
          throw new Error(`resource[${i}] ${where.slice('resource '.length)}: ${(err as Error).message}`);
        }
        io.stdout.write(`${where} ${result.created ? 'Created' : 'Updated'}\n`);
        for (const warning of result.warnings) io.stderr.write(`Warning: ${warning}\n`);
      }
    });
  },
};

const INPUT_EXTENSIONS: ReadonlySet<string> = new Set(['.yaml', '.yml', '.json']);

async function readInput(file: string, stdin: NodeJS.ReadableStream): Promise<string> {
  if (file === '-') return readStream(stdin);
  if (/^https?:\/\//.test(file)) return readUrl(file);
  let isDir: boolean;
  try {
    isDir = (await stat(file)).isDirectory();
  } catch (err) {
    throw new Error(`error while reading provided file: ${(err as Error).message}`);
  }
  if (!isDir) return readFile(file, 'utf8');
  const entries = await readdir(file, { withFileTypes: true });
  const names = entries.filter((e) => !e.isDirectory() && INPUT_EXTENSIONS.has(extname(e.name).toLowerCase())).map((e) => join(file, e.name));
  const texts = await Promise.all(names.sort().map((name) => readFile(name, 'utf8')));
  return texts.join('\n---\n');
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function readUrl(url: string): Promise<string> {
  const res = await request(url, { signal: AbortSignal.timeout(10_000) }).catch((err: unknown) => {
    throw new Error(`error with GET http request: ${(err as Error).message}`);
  });
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`error while retrieving URL: ${res.statusCode}`);
  return body;
}

/**
 * kumactl's --var: mustache tags `{{key}}` / `{{{key}}}` (dotted keys allowed) become the value, and tags
 * naming no --var become empty, as mustache renders them. Unlike kumactl's mustache, values are not
 * HTML-escaped: they land in YAML, where `&amp;` would only corrupt them.
 */
export function renderVars(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(MUSTACHE_TAG, (_tag, triple: string | undefined, double: string | undefined) => {
    const key = (triple ?? double)!;
    // Only the given vars: `{{constructor}}` must not print what the object inherits.
    return Object.hasOwn(vars, key) ? vars[key]! : '';
  });
}

const MUSTACHE_TAG = /\{\{\{\s*([^{}\s]+)\s*\}\}\}|\{\{&?\s*([^{}\s#^/!>=][^{}\s]*)\s*\}\}/g;

interface ParsedResource {
  kind: ResourceKind;
  resource: ApiResource;
}

/** Every document checked before anything is sent, each fault reported as kumactl does; then all or nothing is tried. */
function parseResources(text: string, stderr: Writable): ParsedResource[] {
  const docs = parseAllDocuments(text, { version: '1.1' }).filter((doc) => doc.contents !== null || doc.errors.length > 0);
  const parsed: ParsedResource[] = [];
  let faults = 0;
  for (const [i, doc] of docs.entries()) {
    const result = doc.errors.length > 0 ? `failed to parse resource: ${doc.errors[0]!.message}` : resourceOf(doc.toJS() as unknown);
    if (typeof result === 'string') {
      stderr.write(`resource[${i}]: ${result}\n`);
      faults++;
    } else parsed.push(result);
  }
  if (faults > 0) throw new Error('failed to validate some resources');
  return parsed;
}

/** The resource to PUT, or what is wrong with the document. */
function resourceOf(doc: unknown): ParsedResource | string {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'failed to parse resource: a resource is a mapping with type, name and its fields';
  const fields = doc as Record<string, unknown>;
  const kind = typeof fields.type === 'string' ? KINDS_BY_TYPE.get(fields.type) : undefined;
  if (kind === undefined) return `failed to parse resource: invalid resource type ${JSON.stringify(fields.type ?? '')} (known: ${[...KINDS_BY_TYPE.keys()].join(', ')})`;
  if (typeof fields.name !== 'string' || fields.name === '') return 'failed to read meta: name: cannot be empty';
  if (fields.mesh !== undefined && (typeof fields.mesh !== 'string' || fields.mesh === '')) return 'failed to read meta: mesh: cannot be empty';
  // The timestamps are the server's: dropped so that `get -o yaml` output can be applied back.
  const { creationTime: _created, modificationTime: _modified, ...resource } = fields;
  if (kind.scope === 'mesh' && resource.mesh === undefined) resource.mesh = 'default';
  return { kind, resource: resource as ApiResource };
}

// ---- get -----------------------------------------------------------------------------------------

const OUTPUT_FORMATS: ReadonlySet<string> = new Set(['table', 'yaml', 'json']);

const GET: Command = {
  summary: 'Show resources: one by name, or all of a type',
  usage: 'get TYPE [NAME] [flags]',
  examples: `  kmesh-opa get opapolicies
  kmesh-opa get opapolicy my-policy -o yaml
  kmesh-opa get access-roles -o json
  kmesh-opa get global-secret admin-user-token -o json
TYPE is a path (opapolicies, secrets, global-secrets, access-roles, access-role-bindings), its singular, or the
type name (OPAPolicy), in any case.
`,
  flags: {
    output: { kind: 'string', short: 'o', value: 'format', default: 'table', help: 'output format: one of table|yaml|json' },
    ...MESH_FLAG,
    size: { kind: 'int', value: 'n', help: 'maximum number of elements to return (lists)' },
    offset: { kind: 'string', value: 'offset', help: 'the offset that indicates starting element of the resources list to retrieve' },
    ...API_FLAGS,
  },
  async run(args, io) {
    const [typeArg, name, ...extra] = args.positionals;
    if (typeArg === undefined || extra.length > 0) throw new UsageError('expected TYPE and at most one NAME');
    const kind = resolveKind(typeArg);
    const format = args.strings.get('output') ?? 'table';
    if (!OUTPUT_FORMATS.has(format)) throw new UsageError(`unknown output format ${JSON.stringify(format)}: one of table|yaml|json`);
    const mesh = meshOf(kind, args);
    const now = Date.now();
    await withClient(args, io.env, async (client) => {
      if (name === undefined) {
        const size = args.ints.get('size');
        const offset = args.strings.get('offset');
        const list = await client.list(kind, mesh, { ...(size ? { size } : {}), ...(offset ? { offset } : {}) });
        io.stdout.write(printList(format, kind, list, now));
        return;
      }
      const resource = await client.get(kind, mesh, name);
      if (resource === undefined) throw new Error(kind.scope === 'mesh' ? `No resources found in ${mesh} mesh` : 'No resources found');
      io.stdout.write(printOne(format, kind, resource, now));
    });
  },
};

function printOne(format: string, kind: ResourceKind, resource: ApiResource, now: number): string {
  if (format === 'json') return goJson(resource);
  if (format === 'yaml') return resourceYaml(resource);
  return table(...resourceTable(kind, [resource], now));
}

function printList(format: string, kind: ResourceKind, list: ApiResourceList, now: number): string {
  const body = { total: list.total, items: list.items, next: list.next };
  if (format === 'json') return goJson(body);
  if (format === 'yaml') return toYaml(body);
  const offset = list.next === null ? null : new URL(list.next, 'http://x').searchParams.get('offset');
  const footer = offset ? `\nRerun command with --offset=${offset} argument to retrieve more resources\n` : '';
  return table(...resourceTable(kind, list.items, now)) + footer;
}

function resourceTable(kind: ResourceKind, items: readonly ApiResource[], now: number): [string[], string[][]] {
  const age = (r: ApiResource) => (r.modificationTime ? ageOf(now - Date.parse(r.modificationTime)) : '-');
  if (kind.scope === 'mesh') return [['MESH', 'NAME', 'AGE'], items.map((r) => [r.mesh ?? '', r.name, age(r)])];
  return [['NAME', 'AGE'], items.map((r) => [r.name, age(r)])];
}

/** kumactl's AGE column: whole seconds, minutes, hours, days, then years. */
export function ageOf(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return 'never';
  if (seconds < 0) return '0s';
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 24) return `${hours}h`;
  if (hours < 24 * 365) return `${Math.trunc(hours / 24)}d`;
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** Go's tabwriter as kumactl sets it up: every column but the last padded to its widest cell plus 3 spaces. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, col) => Math.max(...all.map((row) => (row[col] ?? '').length)));
  return all.map((row) => row.map((cell, col) => (col < row.length - 1 ? cell.padEnd(widths[col]! + 3) : cell)).join('') + '\n').join('');
}

// Characters Go's encoding/json escapes in strings (JSON text has them nowhere else).
const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

/** kumactl's `-o json`: json.MarshalIndent with two spaces, which escapes <, > and & as Go does. */
function goJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2).replace(HTML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}

/** The metadata kumactl's YAML printer shows first (sorted), before the spec's fields (sorted). */
const META_FIELDS: ReadonlySet<string> = new Set(['type', 'mesh', 'name', 'creationTime', 'modificationTime', 'labels']);

/** kumactl's `-o yaml` of one resource: metadata, then the spec. */
function resourceYaml(resource: ApiResource): string {
  const meta = Object.fromEntries(Object.entries(resource).filter(([k]) => META_FIELDS.has(k)));
  const spec = Object.fromEntries(Object.entries(resource).filter(([k]) => !META_FIELDS.has(k)));
  return toYaml(meta) + (Object.keys(spec).length > 0 ? toYaml(spec) : '');
}

/** YAML as kumactl's printer (go-yaml v2) writes it: keys sorted, lists not indented, YAML 1.1 quoting, no folding. */
function toYaml(value: unknown): string {
  return stringify(value, { version: '1.1', sortMapEntries: true, indentSeq: false, lineWidth: 0 });
}

// ---- delete --------------------------------------------------------------------------------------

const DELETE: Command = {
  summary: 'Delete a resource',
  usage: 'delete TYPE NAME [flags]',
  examples: '  kmesh-opa delete opapolicy my-policy --mesh default\n',
  flags: { ...MESH_FLAG, ...API_FLAGS },
  async run(args, io) {
    const [typeArg, name, ...extra] = args.positionals;
    if (typeArg === undefined || name === undefined || extra.length > 0) throw new UsageError(`accepts 2 arg(s), received ${args.positionals.length}`);
    const kind = resolveKind(typeArg);
    const deleted = await withClient(args, io.env, (client) => client.delete(kind, meshOf(kind, args), name));
    if (!deleted) throw new Error(`there is no ${kind.type} with name ${JSON.stringify(name)}`);
    io.stdout.write(`deleted ${kind.type} ${JSON.stringify(name)}\n`);
  },
};

// ---- generate user-token -------------------------------------------------------------------------

const USER_TOKEN: Command = {
  summary: 'Generate a user token (proves a user identity to the API)',
  usage: 'generate user-token --name NAME --valid-for DURATION [--group GROUP ...] [flags]',
  examples: '  kmesh-opa generate user-token --name john.doe@example.com --group users --valid-for 24h\n',
  flags: {
    name: { kind: 'string', required: true, value: 'name', help: 'name of the user' },
    group: { kind: 'list', value: 'group', help: 'group of the user (repeatable, or comma-separated)' },
    'valid-for': { kind: 'duration', required: true, value: 'duration', help: 'how long the token will be valid (for example "24h")' },
    ...API_FLAGS,
  },
  async run(args, io) {
    const validFor = goDurationString(args.durations.get('valid-for')!);
    const body = { name: args.strings.get('name')!, groups: args.lists.get('group') ?? [], validFor };
    const token = await withClient(args, io.env, (client) => client.generateUserToken(body)).catch((err: unknown) => {
      throw new Error(`failed to generate a user token: ${(err as Error).message}`);
    });
    io.stdout.write(token);
  },
};

// ---- config control-planes -----------------------------------------------------------------------

interface ConfigFile {
  path: string;
  config: CtlConfig;
}

async function openConfig(args: ParsedArgs, env: NodeJS.ProcessEnv): Promise<ConfigFile> {
  const path = ctlConfigPath(env, args.strings.get('config-file'));
  return { path, config: await loadCtlConfig(path) };
}

const NAME_FLAG: FlagSpecs = { name: { kind: 'string', required: true, value: 'name', help: 'reference name for the Control Plane (required)' } };

const CP_ADD: Command = {
  summary: 'Add a control plane (the agent\'s REST API) and make it the active one',
  usage: 'config control-planes add --name NAME --address URL [flags]',
  examples: '  kmesh-opa config control-planes add --name cp-admin --address http://localhost:8181 --auth-type tokens --auth-conf token=$ADMIN_TOKEN\n',
  flags: {
    ...NAME_FLAG,
    address: { kind: 'string', required: true, value: 'url', help: 'URL of the API (required), e.g. http://localhost:8181' },
    overwrite: { kind: 'bool', help: 'overwrite an existing control plane with the same name' },
    'skip-verify': { kind: 'bool', help: "skip verification of an https server's certificate" },
    'ca-cert-file': { kind: 'string', value: 'path', help: "CA certificate that signed the server's certificate (only the path is stored)" },
    headers: { kind: 'map', value: 'key=value', help: 'headers to send to the control plane' },
    'auth-type': { kind: 'string', value: 'type', help: 'authentication type: "tokens"' },
    'auth-conf': { kind: 'map', value: 'key=value', help: 'authentication configuration, token=USER_TOKEN for "tokens"' },
    'skip-check': { kind: 'bool', help: 'skip checking that the control plane answers' },
    ...CONFIG_FILE_FLAG,
  },
  async run(args, io) {
    const cp = controlPlaneOf(args);
    const file = await openConfig(args, io.env);
    if (!args.bools.has('skip-check')) await checkReachable(cp);
    await saveCtlConfig(file.path, addControlPlane(file.config, cp, args.bools.has('overwrite')));
    io.stdout.write(`added Control Plane ${JSON.stringify(cp.name)}\nswitched active Control Plane to ${JSON.stringify(cp.name)}\n`);
  },
};

/** The control plane `add` describes; bad values are usage errors (kumactl's messages). */
function controlPlaneOf(args: ParsedArgs): ControlPlane {
  const cp: ControlPlane = { name: args.strings.get('name')!, address: validAddress(args.strings.get('address')!) };
  const authType = args.strings.get('auth-type');
  const authConf = args.maps.get('auth-conf');
  if (authType !== undefined && authType !== '') {
    if (authType !== 'tokens') throw new UsageError(`authentication plugin of type ${JSON.stringify(authType)} is not found`);
    if (!authConf?.token) throw new UsageError('--auth-conf is not valid: provide token=YOUR_TOKEN');
    cp.authType = authType;
  }
  if (authConf) cp.authConf = authConf;
  if (args.bools.has('skip-verify')) cp.skipVerify = true;
  const caCertFile = args.strings.get('ca-cert-file');
  if (caCertFile) cp.caCertFile = caCertFile;
  const headers = args.maps.get('headers');
  if (headers) cp.headers = headers;
  return cp;
}

async function checkReachable(cp: ControlPlane): Promise<void> {
  const caCert = cp.caCertFile ? await readFile(cp.caCertFile, 'utf8') : undefined;
  const client = new ApiClient({ address: cp.address, timeoutMs: 60_000, ...(cp.skipVerify ? { skipVerify: true } : {}), ...(caCert ? { caCert } : {}) });
  try {
    await client.ping();
  } catch (err) {
    throw new Error(`could not connect to the Control Plane API Server: ${(err as Error).message} (use --skip-check to add it anyway)`);
  } finally {
    await client.close();
  }
}

const CP_SWITCH: Command = {
  summary: 'Switch the active control plane',
  usage: 'config control-planes switch --name NAME',
  flags: { ...NAME_FLAG, ...CONFIG_FILE_FLAG },
  async run(args, io) {
    const name = args.strings.get('name')!;
    const file = await openConfig(args, io.env);
    await saveCtlConfig(file.path, switchControlPlane(file.config, name));
    io.stdout.write(`switched active Control Plane to ${JSON.stringify(name)}\n`);
  },
};

const CP_LIST: Command = {
  summary: 'List the control planes',
  usage: 'config control-planes list',
  flags: CONFIG_FILE_FLAG,
  async run(args, io) {
    const { config } = await openConfig(args, io.env);
    const rows = config.controlPlanes.map((cp) => [cp.name === config.current ? '*' : '', cp.name, cp.address]);
    io.stdout.write(table(['ACTIVE', 'NAME', 'ADDRESS'], rows));
  },
};

const CP_REMOVE: Command = {
  summary: 'Remove a control plane',
  usage: 'config control-planes remove --name NAME',
  flags: { ...NAME_FLAG, ...CONFIG_FILE_FLAG },
  async run(args, io) {
    const name = args.strings.get('name')!;
    const file = await openConfig(args, io.env);
    const next = removeControlPlane(file.config, name);
    await saveCtlConfig(file.path, next);
    io.stdout.write(`removed Control Plane ${JSON.stringify(name)}\n`);
    io.stdout.write(
      next.current
        ? `switched active Control Plane to ${JSON.stringify(next.current)}\n`
        : 'there is no active Control Plane left. Use `kmesh-opa config control-planes add` to add a Control Plane and make it active\n',
    );
  },
};

const TREE: Group = {
  summary: 'kmesh-opa client commands',
  children: {
    apply: APPLY,
    get: GET,
    delete: DELETE,
    generate: { summary: 'Generate tokens', children: { 'user-token': USER_TOKEN } },
    config: {
      summary: 'Manage the client configuration',
      children: {
        'control-planes': {
          summary: 'Manage the known control planes (agents)',
          children: { add: CP_ADD, switch: CP_SWITCH, list: CP_LIST, remove: CP_REMOVE },
        },
      },
    },
  },
};
