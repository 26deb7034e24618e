// When the policy cannot decide (evaluation aborts, traps, runs out of memory, leaves the decision
// undefined or returns something that is not a decision), the agent answers per --on-agent-failure:
// deny with --status-on-error, or allow. The Go plugin answers those checks with a gRPC error instead
// (by design the difference); what both must agree on is the reason, and for bad decisions its message.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyClient, httpRequest, type CheckResponseObject, type EnvoyClient } from '../helpers/envoy-client.js';
import { startPlugin, type PluginProcess } from '../helpers/peer.js';
import { POLICIES, startAgent, type AgentProcess } from '../helpers/tools.js';

const FAILURES = join(POLICIES, 'failures.rego');
const MAX_MEMORY_MB = '2';
// Far deeper than the WebAssembly call stack allows; small next to the 2 MiB memory bound.
const DEEP_JSON = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;

interface Mode {
  request: Record<string, unknown>;
  reason: 'envoyauth_eval_error' | 'envoyauth_result_error';
  /** What the agent's log says, when it is not the plugin's own message. */
  err?: RegExp;
  /** The plugin has no memory bound: that failure is the agent's alone. */
  agentOnly?: boolean;
}

function modeRequest(mode: string, extra: Record<string, string> = {}, body?: string): Record<string, unknown> {
  return httpRequest({ method: 'POST', path: '/x', headers: { 'x-mode': mode, ...extra }, ...(body === undefined ? {} : { body }) });
}

const EVAL_FAILURES: Record<string, Mode> = {
  'evaluation aborts (conflicting complete rule)': { request: modeRequest('conflict'), reason: 'envoyauth_eval_error', err: /conflict/ },
  'a trap (json.unmarshal of 100000 nested arrays exhausts the wasm stack)': {
    request: modeRequest('trap', { 'content-type': 'text/plain' }, DEEP_JSON),
    reason: 'envoyauth_eval_error',
    err: /stack/i,
  },
  'out of memory (numbers.range of 5,000,000 under --wasm-max-memory-mb 2)': {
    request: modeRequest('memory', { 'x-n': '5000000' }),
    reason: 'envoyauth_eval_error',
    err: /opa_malloc/,
    agentOnly: true,
  },
};

/** Failures whose message the plugin gives too: ours logs the plugin's exact text. */
const RESULT_FAILURES: Record<string, Mode> = {
  'undefined decision (no rule applies)': { request: modeRequest('undefined'), reason: 'envoyauth_eval_error' },
  'undefined decision (division by zero)': { request: modeRequest('divide', { 'x-zero': '0' }), reason: 'envoyauth_eval_error' },
  ...Object.fromEntries(
    [
      'string',
      'number',
      'array',
      'null',
      'no-allowed',
      'allowed-string',
      'headers-number',
      'header-value-number',
      'http-status-string',
      'http-status-unknown',
      'http-status-fraction',
      'body-number',
      'dynamic-metadata-list',
      'query-set-number',
      'headers-to-remove-string',
    ].map((m) => [`badly typed decision "${m}"`, { request: modeRequest(m), reason: 'envoyauth_result_error' } satisfies Mode]),
  ),
};

const OK_REQUEST = modeRequest('ok');

function decisionId(res: CheckResponseObject): string {
  const id = (res.dynamic_metadata?.fields?.decision_id as { stringValue?: string } | undefined)?.stringValue;
  if (!id) throw new Error(`no decision_id in ${JSON.stringify(res)}`);
  return id;
}

/** The agent's warning for one decision (stderr JSON lines arrive a little after the answer). */
async function failureLog(agent: AgentProcess, id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    // Only complete lines: the last one may still be arriving.
    for (const line of agent.stderr().split('\n').slice(0, -1)) {
      if (!line.includes(id)) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.msg === 'check answered by the agent') return entry;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no log line for decision ${id} in:\n${agent.stderr()}`);
}

async function pluginError(client: EnvoyClient, request: Record<string, unknown>): Promise<{ code: number; details: string }> {
  try {
    const res = await client.check(request);
    throw new Error(`the plugin answered instead of failing: ${JSON.stringify(res)}`);
  } catch (err) {
    const e = err as { code?: number; details?: string };
    if (e.code === undefined) throw err;
    return { code: e.code, details: e.details ?? '' };
  }
}

describe('agent failure', () => {
  let deny: AgentProcess;
  let allow: AgentProcess;
  let plugin: PluginProcess;
  const clients: Record<string, EnvoyClient> = {};

  beforeAll(async () => {
    [deny, allow, plugin] = await Promise.all([
      startAgent([FAILURES, '--on-agent-failure', 'deny', '--status-on-error', '413', '--wasm-max-memory-mb', MAX_MEMORY_MB]),
      startAgent([FAILURES, '--on-agent-failure', 'allow', '--wasm-max-memory-mb', MAX_MEMORY_MB]),
      startPlugin([FAILURES]),
    ]);
    for (const version of ['v2', 'v3'] as const) {
      clients[`deny-${version}`] = envoyClient(deny.address, version);
      clients[`allow-${version}`] = envoyClient(allow.address, version);
      clients[`go-${version}`] = envoyClient(plugin.address, version);
    }
  });
  afterAll(async () => {
    for (const c of Object.values(clients)) c.close();
    await Promise.all([deny?.stop(), allow?.stop(), plugin?.stop()]);
  });

  for (const [name, mode] of Object.entries({ ...EVAL_FAILURES, ...RESULT_FAILURES })) {
    describe(name, () => {
      it('--on-agent-failure deny: PERMISSION_DENIED with --status-on-error 413, logged with its reason; then serves on', async () => {
        const res = await clients['deny-v3']!.check(mode.request);
        expect(res.status?.code).toBe(7);
        expect(res.denied_response?.status?.code).toBe('PayloadTooLarge');
        expect(res.denied_response?.body).toBeUndefined();
        const log = await failureLog(deny, decisionId(res));
        expect(log).toMatchObject({ level: 'warn', reason: mode.reason, allowed: false });
        if (mode.err) expect(log.err).toMatch(mode.err);

        const v2 = await clients['deny-v2']!.check(mode.request);
        expect(v2.status?.code).toBe(7);
        expect(v2.denied_response?.status?.code).toBe('PayloadTooLarge');

        const next = await clients['deny-v3']!.check(OK_REQUEST);
        expect(next.status?.code ?? 0).toBe(0);
        expect(next.ok_response).toBeDefined();
      });

      it('--on-agent-failure allow: OK, logged with its reason; then serves on', async () => {
        const res = await clients['allow-v3']!.check(mode.request);
        expect(res.status?.code ?? 0).toBe(0);
        expect(res.denied_response).toBeUndefined();
        const log = await failureLog(allow, decisionId(res));
        expect(log).toMatchObject({ level: 'warn', reason: mode.reason, allowed: true });

        const v2 = await clients['allow-v2']!.check(mode.request);
        expect(v2.status?.code ?? 0).toBe(0);

        // Still deciding: the policy's own denial comes through as the policy wrote it.
        const next = await clients['allow-v3']!.check(modeRequest('deny'));
        expect(next.status?.code).toBe(7);
        expect(next.denied_response?.status?.code).toBe('Unauthorized');
      });

      if (!mode.agentOnly) {
        it('the Go plugin fails the same check with a gRPC error (v3 and v2)', async () => {
          for (const version of ['v3', 'v2'] as const) {
            const err = await pluginError(clients[`go-${version}`]!, mode.request);
            expect(err.code).toBe(2); // UNKNOWN
          }
        });
      }
    });
  }

  for (const [name, mode] of Object.entries(RESULT_FAILURES)) {
    it(`${name}: the agent logs the Go plugin's own error message`, async () => {
      const [res, err] = await Promise.all([clients['deny-v3']!.check(mode.request), pluginError(clients['go-v3']!, mode.request)]);
      const log = await failureLog(deny, decisionId(res));
      expect(log.err).toBe(err.details);
    });
  }

  it('memory: a request needing little memory still works after the out-of-memory one grew the module to its bound', async () => {
    const small = await clients['deny-v3']!.check(modeRequest('memory', { 'x-n': '100' }));
    expect(small.status?.code ?? 0).toBe(0);
  });
});
