// The client's control-planes file: kumactl's layout (controlPlanes, contexts, currentContext), so a
// kumactl user recognises it, kept at ~/.kmesh-opa/config.yaml. It holds tokens: owner-only permissions.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { writeFileAtomic } from '../files.js';

/** Where the agent's REST API listens by default (KMESH_OPA_ADDR): the target without any saved one. */
export const DEFAULT_ADDRESS = 'http://localhost:8181';

export interface ControlPlane {
  name: string;
  /** The REST API's URL, `http://host:port` or `https://host:port`. */
  address: string;
  /** `tokens` (kumactl's only kind): authConf.token is sent as `Authorization: Bearer`. */
  authType?: string;
  authConf?: Record<string, string>;
  skipVerify?: boolean;
  /** Kept as a reference, like kumactl: the file is read on each use. */
  caCertFile?: string;
  headers?: Record<string, string>;
}

export interface CtlConfig {
  controlPlanes: ControlPlane[];
  current?: string;
}

/** A control-planes file that cannot be read or holds something else. */
export class CtlConfigError extends Error {
  override readonly name = 'CtlConfigError';
}

/** `--config-file` > KMESH_OPA_CTL_CONFIG > $HOME/.kmesh-opa/config.yaml. */
export function ctlConfigPath(env: NodeJS.ProcessEnv, flag?: string): string {
  if (flag) return flag;
  if (env.KMESH_OPA_CTL_CONFIG) return env.KMESH_OPA_CTL_CONFIG;
  return join(env.HOME || homedir(), '.kmesh-opa', 'config.yaml');
}

/** Reads the file; a missing one is an empty configuration (nothing saved yet). */
export async function loadCtlConfig(path: string): Promise<CtlConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { controlPlanes: [] };
    throw new CtlConfigError(`Failed to read configuration from file ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
  try {
    return fromFile(parse(text) as unknown);
  } catch (err) {
    throw new CtlConfigError(`Failed to parse configuration from file ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
}

/** Replaced atomically and owner-only (0600, directory 0700): it holds tokens. */
export async function saveCtlConfig(path: string, config: CtlConfig): Promise<void> {
  await writeFileAtomic(path, stringify(toFile(config), { indentSeq: false, sortMapEntries: true }));
}

/** The saved control plane in use, if any. */
export function currentControlPlane(config: CtlConfig): ControlPlane | undefined {
  return config.controlPlanes.find((cp) => cp.name === config.current);
}

/** Adds (or with `overwrite` replaces) a control plane and makes it the current one, as kumactl does. */
export function addControlPlane(config: CtlConfig, cp: ControlPlane, overwrite: boolean): CtlConfig {
  const exists = config.controlPlanes.some((c) => c.name === cp.name);
  if (exists && !overwrite) throw new CtlConfigError(`Control Plane with name ${JSON.stringify(cp.name)} already exists. Use --overwrite to replace an existing one.`);
  const controlPlanes = exists ? config.controlPlanes.map((c) => (c.name === cp.name ? cp : c)) : [...config.controlPlanes, cp];
  return { controlPlanes, current: cp.name };
}

export function switchControlPlane(config: CtlConfig, name: string): CtlConfig {
  if (!config.controlPlanes.some((c) => c.name === name)) throw noSuch(name);
  return { ...config, current: name };
}

/** Removes one; if it was current, the first one left (if any) becomes current, as kumactl does. */
export function removeControlPlane(config: CtlConfig, name: string): CtlConfig {
  if (!config.controlPlanes.some((c) => c.name === name)) throw noSuch(name);
  const controlPlanes = config.controlPlanes.filter((c) => c.name !== name);
  const current = config.current === name ? controlPlanes[0]?.name : config.current;
  return { controlPlanes, current };
}

function noSuch(name: string): CtlConfigError {
  return new CtlConfigError(`there is no Control Plane with name ${JSON.stringify(name)}`);
}

// ---- the file's layout ---------------------------------------------------------------------------

interface ApiServerEntry {
  url: string;
  authType?: string;
  authConf?: Record<string, string>;
  skipVerify?: boolean;
  caCertFile?: string;
  headers?: { key: string; value: string }[];
}

function toFile(config: CtlConfig): Record<string, unknown> {
  const controlPlanes = config.controlPlanes.map((cp) => ({ coordinates: { apiServer: apiServerOf(cp) }, name: cp.name }));
  const contexts = config.controlPlanes.map((cp) => ({ controlPlane: cp.name, name: cp.name }));
  return { contexts, controlPlanes, ...(config.current ? { currentContext: config.current } : {}) };
}

function apiServerOf(cp: ControlPlane): ApiServerEntry {
  const entry: ApiServerEntry = { url: cp.address };
  if (cp.authType) entry.authType = cp.authType;
  if (cp.authConf) entry.authConf = cp.authConf;
  if (cp.skipVerify) entry.skipVerify = true;
  if (cp.caCertFile) entry.caCertFile = cp.caCertFile;
  if (cp.headers) entry.headers = Object.keys(cp.headers).sort().map((key) => ({ key, value: cp.headers![key]! }));
  return entry;
}

function fromFile(doc: unknown): CtlConfig {
  if (doc === null || doc === undefined) return { controlPlanes: [] };
  const root = record(doc, 'the document');
  const controlPlanes = list(root.controlPlanes, 'controlPlanes').map((entry, i) => controlPlaneOf(record(entry, `controlPlanes[${i}]`), i));
  const contexts = list(root.contexts, 'contexts').map((entry, i) => record(entry, `contexts[${i}]`));
  const currentName = optionalString(root.currentContext, 'currentContext');
  // kumactl's contexts point at control planes; a context named apart from its control plane is followed.
  const context = contexts.find((c) => c.name === currentName);
  const current = context === undefined ? currentName : optionalString(context.controlPlane, 'contexts[].controlPlane');
  return { controlPlanes, ...(current ? { current } : {}) };
}

function controlPlaneOf(entry: Record<string, unknown>, i: number): ControlPlane {
  const where = `controlPlanes[${i}]`;
  const name = optionalString(entry.name, `${where}.name`);
  const api = record(record(entry.coordinates ?? {}, `${where}.coordinates`).apiServer ?? {}, `${where}.coordinates.apiServer`);
  const address = optionalString(api.url, `${where}.coordinates.apiServer.url`);
  if (!name || !address) throw new Error(`${where}: name and coordinates.apiServer.url are required`);
  const cp: ControlPlane = { name, address };
  const authType = optionalString(api.authType, `${where}.authType`);
  if (authType) cp.authType = authType;
  if (api.authConf !== undefined) cp.authConf = stringMap(api.authConf, `${where}.authConf`);
  if (api.skipVerify === true) cp.skipVerify = true;
  const caCertFile = optionalString(api.caCertFile, `${where}.caCertFile`);
  if (caCertFile) cp.caCertFile = caCertFile;
  if (api.headers !== undefined) cp.headers = headersOf(api.headers, `${where}.headers`);
  return cp;
}

function headersOf(value: unknown, where: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const entry of list(value, where)) {
    const { key, value: v } = record(entry, where);
    if (typeof key !== 'string' || typeof v !== 'string') throw new Error(`${where}: each header needs a string key and value`);
    headers[key] = v;
  }
  return headers;
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} must be a mapping`);
  return value as Record<string, unknown>;
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${where} must be a list`);
  return value;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new Error(`${where} must be a string`);
  return value;
}

function stringMap(value: unknown, where: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(value, where))) {
    if (typeof v !== 'string') throw new Error(`${where}.${k} must be a string`);
    map[k] = v;
  }
  return map;
}
