// What two ext_authz servers' answers have in common, for differential tests: the echoed input document
// (test/policies/echo.rego) and whole CheckResponses with the per-check parts taken out.
import { afterAll, beforeAll } from 'vitest';
import { envoyClient, structToJson, type CheckResponseObject, type EnvoyClient } from './envoy-client.js';
import { startPlugin, type PluginProcess } from './peer.js';
import { startAgent, type AgentProcess } from './tools.js';

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON value as a google.protobuf.Value for proto-loader (protobufjs' built-in Struct is camelCase). */
export function jsonToValue(value: JsonValue): Record<string, unknown> {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(jsonToValue) } };
  return { structValue: jsonToStruct(value) };
}

/** A JSON object as a google.protobuf.Struct for proto-loader. */
export function jsonToStruct(object: { [key: string]: JsonValue }): { fields: Record<string, unknown> } {
  return { fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, jsonToValue(v)])) };
}

interface HeaderOption {
  header?: { key?: string; value?: string };
}

// Go reads the decision's header and query objects in random map order; values of one key keep their order.
function byKey<T>(items: T[] | undefined, key: (item: T) => string): T[] | undefined {
  return items && [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

const headerKey = (h: HeaderOption) => h.header?.key ?? '';

/**
 * The response with what differs on every check removed: dynamic_metadata.decision_id (a fresh UUID) and
 * the order of header and query options taken from one decision object (Go map order).
 */
export function comparableResponse(res: CheckResponseObject): Record<string, unknown> {
  const out = structuredClone(res) as Record<string, unknown> & CheckResponseObject;
  if (out.dynamic_metadata?.fields) delete out.dynamic_metadata.fields.decision_id;
  const ok = out.ok_response as Record<string, unknown> | undefined;
  if (ok) {
    ok.headers = byKey(ok.headers as HeaderOption[] | undefined, headerKey);
    ok.response_headers_to_add = byKey(ok.response_headers_to_add as HeaderOption[] | undefined, headerKey);
    ok.query_parameters_to_set = byKey(ok.query_parameters_to_set as { key?: string }[] | undefined, (q) => q.key ?? '');
    for (const k of Object.keys(ok)) if (ok[k] === undefined) delete ok[k];
  }
  if (out.denied_response?.headers) out.denied_response.headers = byKey(out.denied_response.headers as HeaderOption[], headerKey);
  return out;
}

/**
 * The input document the echo policy saw: from dynamic_metadata on v3, from the body of its 200 denial on
 * v2 (whose CheckResponse has no dynamic_metadata). Any other answer (a parse error's 400) comes back
 * whole, as `{ answer }`, so it is compared too.
 */
export function echoOf(res: CheckResponseObject, version: 'v2' | 'v3'): unknown {
  if (version === 'v3' && (res.status?.code ?? 0) === 0 && res.dynamic_metadata) {
    return structToJson(res.dynamic_metadata).input;
  }
  if (version === 'v2' && res.denied_response?.status?.code === 'OK' && typeof res.denied_response.body === 'string') {
    return JSON.parse(res.denied_response.body) as unknown;
  }
  return { answer: comparableResponse(res) };
}

/** Sends a CheckRequest and returns what echoOf() makes of the answer. */
export async function echoedInput(client: EnvoyClient, version: 'v2' | 'v3', request: Record<string, unknown>): Promise<unknown> {
  return echoOf(await client.check(request), version);
}

export type SideBySideClients = Record<'ours-v2' | 'ours-v3' | 'go-v2' | 'go-v3', EnvoyClient>;

/**
 * kmesh-opa and the Go plugin started on the same policy files for the enclosing describe block, with a
 * v2 and a v3 client to each; the processes and clients are stopped after the block.
 */
export function sideBySide(files: string[]): { clients: SideBySideClients; agent(): AgentProcess; plugin(): PluginProcess } {
  let agent: AgentProcess | undefined;
  let plugin: PluginProcess | undefined;
  const clients = {} as SideBySideClients;
  beforeAll(async () => {
    [agent, plugin] = await Promise.all([startAgent(files), startPlugin(files)]);
    for (const version of ['v2', 'v3'] as const) {
      clients[`ours-${version}`] = envoyClient(agent.address, version);
      clients[`go-${version}`] = envoyClient(plugin.address, version);
    }
  });
  afterAll(async () => {
    for (const c of Object.values(clients)) c.close();
    await Promise.all([agent?.stop(), plugin?.stop()]);
  });
  return { clients, agent: () => agent!, plugin: () => plugin! };
}
