// Kong Mesh resources in a running agent (`kmesh-opa run`), end to end: the seed page's Universal YAML
// through the resources directory and through Kuma's REST API (YAML and JSON bodies), authConfig applied
// live, selector precedence, multi-module policies, refusals that leave the enforced policy alone, policy
// swaps under load (with propagation figures), and `kmesh-opa envoy-config` checked against Envoy's protos.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyClient, httpRequest, structToJson, type CheckResponseObject, type EnvoyClient } from '../helpers/envoy-client.js';
import { decodeCluster, decodeExtAuthzFilter, unpackAny } from '../helpers/envoy-proto.js';
import { ADMIN_TOKEN } from '../helpers/seed.js';
import { OPA_PAGE } from '../helpers/seed-pages.js';
import { runCli, startAgent, type AgentProcess } from '../helpers/tools.js';

// ---- Variants of the seed page's examples (../shared/seeds/opa-policy-integration.txt) ----

/** The page's Secret under the name its OPAPolicy refers to. */
const SECRET_OPA_POLICY = OPA_PAGE.secret.replace('name: sample-secret', 'name: opa-policy');

/** The page's authConfig example with authConfig at its siblings' indentation. */
const SEED_AUTH_CONFIG = OPA_PAGE.authConfigAsPrinted.replace(/^ {4}authConfig:[\s\S]*?(?=^ {2}agentConfig)/m, (block) =>
  block.replace(/^ {4}( *)/gm, (_m, rest: string) => `  ${rest.slice(0, rest.length / 2)}`),
);

// ---- Policies written for these tests ----

/**
 * Allows everything and echoes its input in dynamic_metadata; with `x-mode: conflict` evaluation aborts
 * (two values for one complete rule), which is an agent failure answered per authConfig.
 */
const ECHO_OR_FAIL = `package envoy.authz

mode := object.get(input.attributes.request.http.headers, "x-mode", "")

conflict := 1 if mode == "conflict"

conflict := 2 if mode == "conflict"

allow := {"allowed": conflict == 1} if mode == "conflict"

allow := {"allowed": true, "dynamic_metadata": {"input": input}} if mode != "conflict"
`;

const ALLOW_ALL = 'package envoy.authz\n\nallow := true\n';
const DENY_ALL = 'package envoy.authz\n\nallow := false\n';

// ---- Helpers ----

const TMP = mkdtempSync(join(tmpdir(), 'kmesh-opa-resources-'));
const BOOT_POLICY = join(TMP, 'boot.rego');
writeFileSync(BOOT_POLICY, ECHO_OR_FAIL);

function freshDir(name: string): string {
  return mkdtempSync(join(TMP, `${name}-`));
}

/** An OPAPolicy in Universal YAML whose policies are the given Rego modules. */
function opaPolicy(name: string, rego: string[], opts: { match?: Record<string, string>; mesh?: string; authConfig?: string } = {}): string {
  const match = Object.entries(opts.match ?? { 'kuma.io/service': '*' })
    .map(([k, v]) => `    ${k}: '${v}'`)
    .join('\n');
  const policies = rego.map((r) => `    - inlineString: |\n${indent(r, 8)}`).join('');
  return `type: OPAPolicy\nmesh: ${opts.mesh ?? 'default'}\nname: ${name}\nselectors:\n- match:\n${match}\nconf:\n${opts.authConfig ?? ''}  policies:\n${policies}`;
}

function indent(text: string, spaces: number): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? '' : ' '.repeat(spaces) + l))
    .join('\n')
    .replace(/\n*$/, '\n');
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

type Format = 'yaml' | 'json';

async function rest(agent: AgentProcess, method: string, path: string, body?: string, format: Format = 'yaml'): Promise<Answer> {
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': format === 'yaml' ? 'application/yaml' : 'application/json' };
  const res = await fetch(`${agent.restUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

function resourcePath(doc: Record<string, unknown>): string {
  const kind = doc.type === 'OPAPolicy' ? 'opapolicies' : doc.type === 'Secret' ? 'secrets' : String(doc.type);
  return `/meshes/${String(doc.mesh)}/${kind}/${String(doc.name)}`;
}

/** PUTs one resource written as YAML, sent as YAML or (converted) as JSON. */
function put(agent: AgentProcess, yamlText: string, format: Format): Promise<Answer> {
  const doc = parseYaml(yamlText) as Record<string, unknown>;
  return rest(agent, 'PUT', resourcePath(doc), format === 'yaml' ? yamlText : JSON.stringify(doc), format);
}

async function putAll(agent: AgentProcess, yamlTexts: string[], format: Format): Promise<Answer[]> {
  const out: Answer[] = [];
  for (const text of yamlTexts) out.push(await put(agent, text, format));
  return out;
}

async function deleteAll(agent: AgentProcess, yamlTexts: string[]): Promise<void> {
  // Policies before the Secrets they use: a Secret in use cannot be deleted.
  for (const text of [...yamlTexts].reverse()) {
    const res = await rest(agent, 'DELETE', resourcePath(parseYaml(text) as Record<string, unknown>));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
}

/** Writes a file of the resources directory atomically (a dot-file renamed over it), as an editor or kubectl would. */
function writeResources(dir: string, file: string, yamlTexts: string[]): void {
  const temp = join(dir, `.${file}.${randomUUID()}`);
  writeFileSync(temp, yamlTexts.join('---\n'));
  renameSync(temp, join(dir, file));
}

interface Status {
  opa_policy: { name: string; mesh: string; selector: number; specificity: number; candidates: { name: string; specificity: number }[] } | null;
  policy: { layer: string | null; revision: string | null; origin: string | null };
  dataplane?: { mesh: string; tags: Record<string, string>[] };
}

async function status(agent: AgentProcess): Promise<Status> {
  const res = await fetch(`${agent.restUrl}/v1/status`);
  return ((await res.json()) as { result: Status }).result;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until the named OPAPolicy (or, with null, none: the boot policy) is the one in force. */
function waitForPolicy(agent: AgentProcess, name: string | null): Promise<Status> {
  return waitFor(`OPAPolicy ${name ?? '(none)'} in force`, async () => {
    const s = await status(agent);
    const inForce = name === null ? s.opa_policy === null && s.policy.layer === 'boot' : s.opa_policy?.name === name && s.policy.layer === 'resource';
    return inForce ? s : undefined;
  });
}

/** Waits until the agent's log shows `line` (a substring) after `from` characters. */
function waitForLog(agent: AgentProcess, from: number, line: string | RegExp): Promise<string> {
  return waitFor(`log ${String(line)}`, async () => {
    const tail = agent.stderr().slice(from);
    return (typeof line === 'string' ? tail.includes(line) : line.test(tail)) ? tail : undefined;
  });
}

const OK = 0;
const PERMISSION_DENIED = 7;

function code(res: CheckResponseObject): number {
  return res.status?.code ?? OK;
}

function echoedInput(res: CheckResponseObject): Record<string, unknown> {
  return structToJson(res.dynamic_metadata).input as Record<string, unknown>;
}

function echoedHttp(res: CheckResponseObject): Record<string, unknown> {
  return ((echoedInput(res).attributes as Record<string, unknown>).request as Record<string, unknown>).http as Record<string, unknown>;
}

/** The seed walk-through: no token → denied, the admin token on GET → allowed, on POST → denied. */
async function expectSeedWalkThrough(client: EnvoyClient): Promise<void> {
  const anonymous = await client.check(httpRequest({ method: 'GET', path: '/' }));
  // A boolean decision: PERMISSION_DENIED without a denied_response, as the Go plugin answers (Envoy then sends 403).
  expect(code(anonymous)).toBe(PERMISSION_DENIED);
  expect(anonymous.denied_response).toBeUndefined();
  const admin = await client.check(httpRequest({ method: 'GET', path: '/', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  expect(code(admin)).toBe(OK);
  const adminPost = await client.check(httpRequest({ method: 'POST', path: '/', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  expect(code(adminPost)).toBe(PERMISSION_DENIED);
}

/** The boot policy decides: everything allowed, the input echoed. */
async function expectBoot(client: EnvoyClient): Promise<void> {
  const res = await client.check(httpRequest({ method: 'POST', path: '/anything' }));
  expect(code(res)).toBe(OK);
  expect(echoedHttp(res).path).toBe('/anything');
}

function violations(answer: Answer): { field: string; reason: string }[] {
  return (answer.body.invalid_parameters as { field: string; reason: string }[] | undefined) ?? [];
}

afterAll(() => rmSync(TMP, { recursive: true, force: true }));

// ---- 1. The seed examples ----

describe('seed examples, through the resources directory and the API', () => {
  let agent: AgentProcess;
  let client: EnvoyClient;
  let dir: string;

  beforeAll(async () => {
    dir = freshDir('seed');
    agent = await startAgent(['--resources-dir', dir, '--dataplane-tags', 'kuma.io/service=web', BOOT_POLICY]);
    client = envoyClient(agent.address);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop();
  });

  type Apply = { name: string; apply(docs: string[]): Promise<void>; remove(docs: string[]): Promise<void> };
  const ways: Apply[] = [
    {
      name: 'resources directory',
      apply: async (docs) => writeResources(dir, 'seed.yaml', docs),
      remove: async () => rmSync(join(dir, 'seed.yaml')),
    },
    ...(['yaml', 'json'] as const).map((format) => ({
      name: `API PUT (${format} body)`,
      apply: async (docs: string[]) => {
        for (const res of await putAll(agent, docs, format)) expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
      },
      remove: (docs: string[]) => deleteAll(agent, docs),
    })),
  ];

  it('boots on the boot policy: no OPAPolicy, layer boot', async () => {
    const s = await status(agent);
    expect(s.opa_policy).toBeNull();
    expect(s.policy.layer).toBe('boot');
    expect(s.dataplane).toEqual({ mesh: 'default', tags: [{ 'kuma.io/service': 'web' }] });
    await expectBoot(client);
  });

  for (const way of ways) {
    describe(way.name, () => {
      it('inline policy: applied, the seed walk-through holds, agentConfig turns console decision logs on; removed → boot', async () => {
        await way.apply([OPA_PAGE.inline]);
        const s = await waitForPolicy(agent, 'opa-1');
        expect(s.policy.origin).toBe('OPAPolicy default/opa-1');
        await expectSeedWalkThrough(client);
        const requestId = randomUUID();
        await client.check(httpRequest({ method: 'GET', path: '/logged', headers: { 'x-request-id': requestId } }));
        const line = await waitFor('console decision line', async () =>
          agent
            .stdout()
            .split('\n')
            .find((l) => l.includes(requestId)),
        );
        const decision = JSON.parse(line) as { decision_id?: string; input: { attributes: { request: { http: { path: string } } } }; result: unknown };
        expect(decision.decision_id).toMatch(/^[0-9a-f-]{36}$/);
        expect(decision.input.attributes.request.http.path).toBe('/logged');
        expect(decision.result).toBe(false);
        await way.remove([OPA_PAGE.inline]);
        await waitForPolicy(agent, null);
        await expectBoot(client);
      });

      it('secret policy: the Secret under the name the policy uses → applied and enforced; removed → boot', async () => {
        await way.apply([SECRET_OPA_POLICY, OPA_PAGE.secretPolicy]);
        await waitForPolicy(agent, 'opa-1');
        await expectSeedWalkThrough(client);
        await way.remove([SECRET_OPA_POLICY, OPA_PAGE.secretPolicy]);
        await waitForPolicy(agent, null);
      });

      it('authConfig policy (indentation corrected) with its Secret → applied and enforced; removed → boot', async () => {
        await way.apply([SECRET_OPA_POLICY, SEED_AUTH_CONFIG]);
        await waitForPolicy(agent, 'opa-1');
        await expectSeedWalkThrough(client);
        await way.remove([SECRET_OPA_POLICY, SEED_AUTH_CONFIG]);
        await waitForPolicy(agent, null);
        await expectBoot(client);
      });
    });
  }

  it('verbatim secret pair (Secret "sample-secret", policy naming "opa-policy") via API: policy refused naming conf.policies[0].secret', async () => {
    expect((await put(agent, OPA_PAGE.secret, 'yaml')).status).toBe(201);
    const res = await put(agent, OPA_PAGE.secretPolicy, 'yaml');
    expect(res.status).toBe(400);
    expect(violations(res)).toEqual([{ field: 'conf.policies[0].secret', reason: 'secret "opa-policy" not found in mesh "default"' }]);
    expect((await rest(agent, 'GET', '/meshes/default/opapolicies/opa-1')).status).toBe(404);
    expect((await status(agent)).opa_policy).toBeNull();
    await expectBoot(client);
    expect((await rest(agent, 'DELETE', '/meshes/default/secrets/sample-secret')).status).toBe(200);
  });

  it('verbatim secret pair via the directory: the file is refused (log names the field and the secret), nothing applied', async () => {
    const from = agent.stderr().length;
    writeResources(dir, 'verbatim-secret.yaml', [OPA_PAGE.secret, OPA_PAGE.secretPolicy]);
    const log = await waitForLog(agent, from, 'a resources file was refused');
    expect(log).toContain('conf.policies[0].secret: secret \\"opa-policy\\" not found in mesh \\"default\\"');
    expect((await rest(agent, 'GET', '/meshes/default/secrets/sample-secret')).status).toBe(404);
    expect((await status(agent)).opa_policy).toBeNull();
    rmSync(join(dir, 'verbatim-secret.yaml'));
  });

  it('verbatim authConfig YAML via API: 400 naming the YAML error and its line', async () => {
    const res = await rest(agent, 'PUT', '/meshes/default/opapolicies/opa-1', OPA_PAGE.authConfigAsPrinted, 'yaml');
    expect(res.status).toBe(400);
    // Line 14 is "  agentConfig:", at an indentation no open block has.
    expect(String(res.body.detail)).toMatch(/invalid OPAPolicy object: .*line 14\b/);
    expect((await status(agent)).opa_policy).toBeNull();
  });

  it('verbatim authConfig YAML via the directory: the parse error is logged with its line, nothing changes', async () => {
    const from = agent.stderr().length;
    writeResources(dir, 'verbatim-auth.yaml', [OPA_PAGE.authConfigAsPrinted]);
    const log = await waitForLog(agent, from, 'cannot parse a resources file');
    expect(log).toMatch(/verbatim-auth\.yaml.*line 14\b/);
    expect((await status(agent)).opa_policy).toBeNull();
    await expectBoot(client);
    rmSync(join(dir, 'verbatim-auth.yaml'));
  });
});

describe('seed agentConfig with discovery, on a data plane it does not select (never reaches example.com)', () => {
  let agent: AgentProcess;
  let dir: string;

  beforeAll(async () => {
    dir = freshDir('discovery');
    agent = await startAgent(['--resources-dir', dir, '--dataplane-tags', 'app=x', BOOT_POLICY]);
  });
  afterAll(() => agent?.stop());

  function expectNoDiscovery(): void {
    expect(agent.stderr()).not.toContain('example.com');
    expect(agent.stderr()).not.toContain('Starting bundle loader');
    expect(agent.stderr()).not.toContain('"discovery"');
  }

  it('via the directory: validated and stored, not applied; no discovery started', async () => {
    const from = agent.stderr().length;
    writeResources(dir, 'discovery.yaml', [OPA_PAGE.externalManagement]);
    await waitForLog(agent, from, 'applied a resources file');
    const stored = await rest(agent, 'GET', '/meshes/default/opapolicies/opa-1');
    expect(stored.status).toBe(200);
    expect((stored.body.conf as { agentConfig: { inlineString: string } }).agentConfig.inlineString).toContain('https://example.com/control-plane-api/v1');
    const s = await status(agent);
    expect(s.opa_policy).toBeNull();
    expect(s.policy.layer).toBe('boot');
    rmSync(join(dir, 'discovery.yaml'));
    await waitFor('file removed from the store', async () => ((await rest(agent, 'GET', '/meshes/default/opapolicies/opa-1')).status === 404 ? true : undefined));
    expectNoDiscovery();
  });

  for (const format of ['yaml', 'json'] as const) {
    it(`via API PUT (${format} body): 201, stored, not applied; no discovery started`, async () => {
      const res = await put(agent, OPA_PAGE.externalManagement, format);
      expect(res.status).toBe(201);
      await new Promise((r) => setTimeout(r, 200));
      const s = await status(agent);
      expect(s.opa_policy).toBeNull();
      expect(s.policy.layer).toBe('boot');
      expect((await rest(agent, 'DELETE', '/meshes/default/opapolicies/opa-1')).status).toBe(200);
      expectNoDiscovery();
    });
  }
});

// ---- 2. authConfig applied live ----

describe('authConfig applied live, and back to the boot settings on delete', () => {
  let agent: AgentProcess;
  let client: EnvoyClient;
  const conflict = () => client.check(httpRequest({ method: 'GET', path: '/', headers: { 'x-mode': 'conflict' } }));
  const withBody = (body: string) => client.check(httpRequest({ method: 'POST', path: '/upload', headers: { 'content-type': 'text/plain' }, body }));
  const authConfig = (onAgentFailure: string, sendRawBody: boolean) =>
    `  authConfig:\n    statusOnError: 413\n    onAgentFailure: ${onAgentFailure}\n    requestBody:\n      maxSize: 1024\n      sendRawBody: ${sendRawBody}\n`;

  beforeAll(async () => {
    agent = await startAgent(['--dataplane-tags', 'kuma.io/service=web', BOOT_POLICY]);
    client = envoyClient(agent.address);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop();
  });

  it('boot settings: a failing policy is denied with 403 Forbidden; the body is not sent (maxSize 0)', async () => {
    const failed = await conflict();
    expect(code(failed)).toBe(PERMISSION_DENIED);
    expect(failed.denied_response?.status?.code).toBe('Forbidden');
    const http = echoedHttp(await withBody('x'.repeat(2000)));
    expect(http.body).toBe('x'.repeat(2000));
    expect((http.headers as Record<string, string>)['x-envoy-auth-partial-body']).toBeUndefined();
  });

  it('statusOnError 413 + onAgentFailure deny: the failing check is denied with PayloadTooLarge; maxSize 1024 cuts the body and marks it partial', async () => {
    const res = await put(agent, opaPolicy('auth', [ECHO_OR_FAIL], { authConfig: authConfig('deny', false) }), 'yaml');
    expect(res.status).toBe(201);
    await waitForPolicy(agent, 'auth');
    const failed = await conflict();
    expect(code(failed)).toBe(PERMISSION_DENIED);
    expect(failed.denied_response?.status?.code).toBe('PayloadTooLarge');
    const http = echoedHttp(await withBody('x'.repeat(2000)));
    expect(http.body).toBe('x'.repeat(1024));
    expect((http.headers as Record<string, string>)['x-envoy-auth-partial-body']).toBe('true');
    const small = echoedHttp(await withBody('small'));
    expect(small.body).toBe('small');
    expect((small.headers as Record<string, string>)['x-envoy-auth-partial-body']).toBeUndefined();
  });

  it('onAgentFailure allow: the failing check is allowed; sendRawBody: the body arrives as raw_body (input rawBody), not body', async () => {
    const res = await put(agent, opaPolicy('auth', [ECHO_OR_FAIL], { authConfig: authConfig('allow', true) }), 'json');
    expect(res.status).toBe(200);
    await waitFor('onAgentFailure allow in force', async () => (code(await conflict()) === OK ? true : undefined));
    const http = echoedHttp(await withBody('abc'));
    // The CheckRequest's raw_body field; the input shows it under its proto3 JSON name, as the Go plugin does.
    expect(http.rawBody).toBe(Buffer.from('abc').toString('base64'));
    expect(http.body).toBeUndefined();
  });

  it('deleting the policy returns to the boot settings (403, deny, no body limit)', async () => {
    expect((await rest(agent, 'DELETE', '/meshes/default/opapolicies/auth')).status).toBe(200);
    await waitForPolicy(agent, null);
    const failed = await conflict();
    expect(code(failed)).toBe(PERMISSION_DENIED);
    expect(failed.denied_response?.status?.code).toBe('Forbidden');
    const http = echoedHttp(await withBody('x'.repeat(2000)));
    expect(http.body).toBe('x'.repeat(2000));
    expect(http.rawBody).toBeUndefined();
  });
});

// ---- 3. Selector precedence ----

/** A policy that says which OPAPolicy decided, in a response header. */
function namedPolicy(name: string, match: Record<string, string>, mesh = 'default'): string {
  return opaPolicy(name, [`package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-policy": "${name}"}}\n`], { match, mesh });
}

async function decidedBy(client: EnvoyClient): Promise<string | undefined> {
  const res = await client.check(httpRequest({ method: 'GET', path: '/' }));
  const headers = (res.ok_response?.headers ?? []) as { header: { key: string; value: string } }[];
  return headers.find((h) => h.header.key === 'x-policy')?.header.value;
}

describe('selector precedence (identity kuma.io/service=web,version=v1)', () => {
  let agent: AgentProcess;
  let client: EnvoyClient;

  beforeAll(async () => {
    agent = await startAgent(['--dataplane-tags', 'kuma.io/service=web,version=v1', BOOT_POLICY]);
    client = envoyClient(agent.address);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop();
  });

  it('most specific wins; equal specificity → smaller name; deleting the winner falls back; another mesh never applies', async () => {
    const docs = [
      namedPolicy('any', { 'kuma.io/service': '*' }),
      namedPolicy('web', { 'kuma.io/service': 'web' }),
      namedPolicy('zz-v1', { version: 'v1' }),
      namedPolicy('web-v1', { 'kuma.io/service': 'web', version: 'v1' }),
      namedPolicy('backend', { 'kuma.io/service': 'backend' }),
      namedPolicy('aaa', { 'kuma.io/service': 'web', version: 'v1', 'kuma.io/zone': '*' }, 'other'),
    ];
    for (const res of await putAll(agent, docs, 'yaml')) expect(res.status, JSON.stringify(res.body)).toBe(201);
    const s = await waitForPolicy(agent, 'web-v1');
    expect(s.opa_policy).toMatchObject({
      mesh: 'default',
      name: 'web-v1',
      selector: 0,
      specificity: 2,
      candidates: [
        { name: 'web-v1', specificity: 2 },
        { name: 'web', specificity: 1 },
        { name: 'zz-v1', specificity: 1 },
        { name: 'any', specificity: 0 },
      ],
    });
    expect(await decidedBy(client)).toBe('web-v1');

    expect((await rest(agent, 'DELETE', '/meshes/default/opapolicies/web-v1')).status).toBe(200);
    await waitForPolicy(agent, 'web');
    expect(await decidedBy(client)).toBe('web');

    expect((await rest(agent, 'DELETE', '/meshes/default/opapolicies/web')).status).toBe(200);
    await waitForPolicy(agent, 'zz-v1');
    expect(await decidedBy(client)).toBe('zz-v1');

    for (const name of ['zz-v1', 'any']) expect((await rest(agent, 'DELETE', `/meshes/default/opapolicies/${name}`)).status).toBe(200);
    const boot = await waitForPolicy(agent, null);
    expect(boot.opa_policy).toBeNull();
    // Left: "backend" (another service) and "aaa" (another mesh): neither applies.
    expect((await rest(agent, 'GET', '/meshes/other/opapolicies/aaa')).status).toBe(200);
    await expectBoot(client);
  });

  it('--dataplane-file with the seed Dataplane: its inbound tags select (kuma.io/service web, kuma.io/protocol http)', async () => {
    const file = join(freshDir('dataplane'), 'web.yaml');
    writeFileSync(file, OPA_PAGE.dataplane);
    const dp = await startAgent(['--dataplane-file', file, BOOT_POLICY]);
    const dpClient = envoyClient(dp.address);
    try {
      const s0 = await status(dp);
      expect(s0.dataplane).toEqual({ mesh: 'default', tags: [{ 'kuma.io/service': 'web', 'kuma.io/protocol': 'http' }] });
      for (const doc of [namedPolicy('backend', { 'kuma.io/service': 'backend' }), namedPolicy('web-http', { 'kuma.io/service': 'web', 'kuma.io/protocol': 'http' }), namedPolicy('web-v1', { 'kuma.io/service': 'web', version: 'v1' })]) {
        expect((await put(dp, doc, 'yaml')).status).toBe(201);
      }
      const s = await waitForPolicy(dp, 'web-http');
      expect(s.opa_policy?.candidates).toEqual([{ name: 'web-http', specificity: 2 }]);
      expect(await decidedBy(dpClient)).toBe('web-http');
    } finally {
      dpClient.close();
      await dp.stop();
    }
  });
});

// ---- 4 and 5. Compiling policies, and refusals ----

describe('compiling OPAPolicies, and writes that are refused', () => {
  let agent: AgentProcess;
  let client: EnvoyClient;

  beforeAll(async () => {
    agent = await startAgent(['--dataplane-tags', 'kuma.io/service=web', BOOT_POLICY]);
    client = envoyClient(agent.address);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop();
  });

  const LIB = 'package lib.methods\n\nreadable := {"GET", "HEAD"}\n';
  const MAIN = 'package envoy.authz\n\nimport data.lib.methods\n\nallow if input.attributes.request.http.method in methods.readable\n';

  it('several policies: two Rego modules, one importing the other\'s package, compiled together', async () => {
    expect((await put(agent, opaPolicy('multi', [LIB, MAIN]), 'yaml')).status).toBe(201);
    await waitForPolicy(agent, 'multi');
    expect(code(await client.check(httpRequest({ method: 'HEAD', path: '/' })))).toBe(OK);
    expect(code(await client.check(httpRequest({ method: 'DELETE', path: '/' })))).toBe(PERMISSION_DENIED);
  });

  it('a Rego parse error (a dangling + in the importing module) → 400 with OPA\'s file:row location; the previous policy is still enforced', async () => {
    const broken = MAIN.replace('methods.readable', 'methods.readable + ');
    const res = await put(agent, opaPolicy('multi', [LIB, broken]), 'yaml');
    expect(res.status).toBe(400);
    // OPA's text form of an error location is file:row (the column is in its JSON form only).
    // The module is named as conf.policies names it: the compiler's safe file names are mapped back.
    expect(String(res.body.detail)).toContain('multi.policies[1].rego:6: rego_parse_error: unexpected eof token');
    expect((await status(agent)).opa_policy?.name).toBe('multi');
    expect(code(await client.check(httpRequest({ method: 'GET', path: '/' })))).toBe(OK);
    expect(code(await client.check(httpRequest({ method: 'DELETE', path: '/' })))).toBe(PERMISSION_DENIED);
  });

  it('a Secret whose data is not base64 ("not base64!") → 400 naming data', async () => {
    const res = await put(agent, 'type: Secret\nmesh: default\nname: bad\ndata: "not base64!"\n', 'yaml');
    expect(res.status).toBe(400);
    expect(violations(res)).toEqual([{ field: 'data', reason: 'must be valid base64' }]);
  });

  it('an OPAPolicy naming a missing Secret ("nowhere") → 400; nothing changes', async () => {
    const res = await put(agent, OPA_PAGE.secretPolicy.replace('opa-policy', 'nowhere').replace('name: opa-1', 'name: multi'), 'yaml');
    expect(res.status).toBe(400);
    expect(violations(res)).toEqual([{ field: 'conf.policies[0].secret', reason: 'secret "nowhere" not found in mesh "default"' }]);
    expect((await status(agent)).opa_policy?.name).toBe('multi');
  });

  it('deleting a Secret the applied OPAPolicy uses → refused; the policy is still enforced', async () => {
    expect((await put(agent, SECRET_OPA_POLICY, 'yaml')).status).toBe(201);
    expect((await put(agent, OPA_PAGE.secretPolicy.replace('name: opa-1', 'name: multi'), 'yaml')).status).toBe(200);
    await waitFor('seed policy in force', async () => (code(await client.check(httpRequest({ method: 'HEAD', path: '/' }))) === PERMISSION_DENIED ? true : undefined));
    const res = await rest(agent, 'DELETE', '/meshes/default/secrets/opa-policy');
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('OPAPolicy default/multi: secret \\"opa-policy\\" not found');
    expect((await rest(agent, 'GET', '/meshes/default/secrets/opa-policy')).status).toBe(200);
    await expectSeedWalkThrough(client);
  });
});

// ---- 6. Swaps under load ----

interface CheckEvent {
  start: number;
  end: number;
  allowed: boolean;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function figures(values: number[]): string {
  return `p50 ${percentile(values, 50).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms (n=${values.length})`;
}

describe('policy swaps under load', () => {
  const IN_FLIGHT = 8;
  let agent: AgentProcess;
  let clients: EnvoyClient[];
  let dir: string;
  const events: CheckEvent[] = [];
  const failures: string[] = [];
  let running = true;
  let loops: Promise<void>[] = [];

  beforeAll(async () => {
    dir = freshDir('load');
    agent = await startAgent(['--resources-dir', dir, '--dataplane-tags', 'kuma.io/service=web', BOOT_POLICY]);
    clients = [envoyClient(agent.address), envoyClient(agent.address)];
    const request = httpRequest({ method: 'GET', path: '/load' });
    loops = Array.from({ length: IN_FLIGHT }, async (_, i) => {
      while (running) {
        const start = performance.now();
        try {
          const res = await clients[i % clients.length]!.check(request);
          const c = code(res);
          if (c !== OK && c !== PERMISSION_DENIED) failures.push(`status ${c}`);
          events.push({ start, end: performance.now(), allowed: c === OK });
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
  });
  afterAll(async () => {
    running = false;
    await Promise.all(loops);
    for (const c of clients ?? []) c.close();
    await agent?.stop();
  });

  /** Time from the write to the first check (started after the write) decided by the new policy; checks after it all agree. */
  async function swap(write: () => Promise<void>, allowed: boolean): Promise<number> {
    const t0 = performance.now();
    await write();
    const first = await waitFor(`first check decided by the ${allowed ? 'allow' : 'deny'} policy`, async () => {
      const hits = events.filter((e) => e.start >= t0 && e.allowed === allowed);
      return hits.length > 0 ? Math.min(...hits.map((e) => e.end)) : undefined;
    });
    await new Promise((r) => setTimeout(r, 100));
    const after = events.filter((e) => e.start > first);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((e) => e.allowed !== allowed)).toEqual([]);
    return first - t0;
  }

  it('alternating allow-all / deny-all through the API and the directory: no failed RPC, clean answers, fast convergence', async () => {
    const nonce = () => `# ${randomUUID()}\n`;
    // Fresh texts (compiled for the first time: cold) then the same two again (compile cache warm).
    const api = { cold: [] as number[], warm: [] as number[] };
    const texts = [`${DENY_ALL}${nonce()}`, `${ALLOW_ALL}${nonce()}`];
    for (let i = 0; i < 10; i++) {
      const allowed = i % 2 === 1;
      const doc = opaPolicy('swap', [texts[i % 2]!]);
      const ms = await swap(async () => {
        const res = await put(agent, doc, 'yaml');
        expect([200, 201]).toContain(res.status);
      }, allowed);
      (i < 2 ? api.cold : api.warm).push(ms);
    }
    expect((await rest(agent, 'DELETE', '/meshes/default/opapolicies/swap')).status).toBe(200);
    await waitForPolicy(agent, null);

    const file = { cold: [] as number[], warm: [] as number[] };
    const fileTexts = [`${DENY_ALL}${nonce()}`, `${ALLOW_ALL}${nonce()}`];
    for (let i = 0; i < 8; i++) {
      const allowed = i % 2 === 1;
      const ms = await swap(async () => writeResources(dir, 'swap.yaml', [opaPolicy('swap', [fileTexts[i % 2]!])]), allowed);
      (i < 2 ? file.cold : file.warm).push(ms);
    }

    expect(failures).toEqual([]);
    expect(events.length).toBeGreaterThan(100);
    console.log(
      [
        `propagation, write → first check decided by the new policy (${IN_FLIGHT} checks in flight, ${events.length} checks):`,
        `  API PUT, compile cache cold: ${figures(api.cold)}`,
        `  API PUT, compile cache warm: ${figures(api.warm)}`,
        `  resources-directory file (fs watcher), cold: ${figures(file.cold)}`,
        `  resources-directory file (fs watcher), warm: ${figures(file.warm)}`,
      ].join('\n'),
    );
  });
});

// ---- 7. kmesh-opa envoy-config ----

describe('kmesh-opa envoy-config, checked with the official Envoy protos', () => {
  const ADDR = ['--opa-ext-authz-addr', '127.0.0.1:40123'];

  function expectSeedAuthConfig(stdout: string): void {
    const config = JSON.parse(stdout) as { http_filters: unknown[]; clusters: unknown[] };
    expect(config.http_filters).toHaveLength(2);
    const ext = decodeExtAuthzFilter(config.http_filters[0], 'http_filters[0]');
    expect(ext).toMatchObject({
      status_on_error: { code: 'PayloadTooLarge' },
      failure_mode_allow: true,
      with_request_body: { max_request_bytes: 1024, pack_as_bytes: true, allow_partial_message: true },
      transport_api_version: 'V3',
    });
    const router = config.http_filters[1] as { name: string; typed_config: Record<string, unknown> };
    expect(router.name).toBe('envoy.filters.http.router');
    expect(config.clusters).toHaveLength(1);
    const cluster = decodeCluster(config.clusters[0], 'clusters[0]');
    expect(cluster.load_assignment).toMatchObject({
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 40123 } } } }] }],
    });
    const options = (cluster.typed_extension_protocol_options as Record<string, { type_url: string; value: Uint8Array }>)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!;
    expect(unpackAny(options)).toEqual({ explicit_http_config: { http2_protocol_options: {} } });
  }

  it('-f <the seed authConfig OPAPolicy, corrected>', async () => {
    const file = join(freshDir('envoy-f'), 'opa-1.yaml');
    writeFileSync(file, SEED_AUTH_CONFIG);
    const res = await runCli(['envoy-config', '-f', file, ...ADDR]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expectSeedAuthConfig(res.stdout);
  });

  it('--resources-dir with --dataplane-tags: the selected policy (not the other service\'s)', async () => {
    const d = freshDir('envoy-dir');
    writeFileSync(join(d, 'policies.yaml'), [SECRET_OPA_POLICY, SEED_AUTH_CONFIG.replace('name: opa-1', 'name: web').replace("kuma.io/service: '*'", 'kuma.io/service: web'), namedPolicy('backend', { 'kuma.io/service': 'backend' })].join('---\n'));
    const res = await runCli(['envoy-config', '--resources-dir', d, '--dataplane-tags', 'kuma.io/service=web', ...ADDR]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expectSeedAuthConfig(res.stdout);

    const other = await runCli(['envoy-config', '--resources-dir', d, '--dataplane-tags', 'kuma.io/service=backend', ...ADDR]);
    expect(other.code).toBe(0);
    const ext = decodeExtAuthzFilter((JSON.parse(other.stdout) as { http_filters: unknown[] }).http_filters[0]);
    expect(ext.status_on_error).toEqual({ code: 'Forbidden' });
    expect(ext.failure_mode_allow).toBe(false);
    expect(ext.with_request_body).toBeUndefined();
  });

  it('bad input: a missing file, an invalid OPAPolicy, a status Envoy cannot carry (418) each give one line and exit 1', async () => {
    const d = freshDir('envoy-bad');
    const missing = await runCli(['envoy-config', '-f', join(d, 'absent.yaml'), ...ADDR]);
    expect({ code: missing.code, stdout: missing.stdout }).toEqual({ code: 1, stdout: '' });
    expect(missing.stderr).toMatch(/^kmesh-opa envoy-config: ENOENT: no such file or directory, open '.*absent\.yaml'\n$/);

    writeFileSync(join(d, 'invalid.yaml'), 'type: OPAPolicy\nmesh: default\nname: x\nselectors: []\nconf: {}\n');
    const invalid = await runCli(['envoy-config', '-f', join(d, 'invalid.yaml'), ...ADDR]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe(`kmesh-opa envoy-config: ${join(d, 'invalid.yaml')}: OPAPolicy x: selectors: must have at least one element\n`);

    writeFileSync(join(d, 'teapot.yaml'), SEED_AUTH_CONFIG.replace('statusOnError: 413', 'statusOnError: 418'));
    const teapot = await runCli(['envoy-config', '-f', join(d, 'teapot.yaml'), ...ADDR]);
    expect(teapot.code).toBe(1);
    expect(teapot.stderr).toBe('kmesh-opa envoy-config: statusOnError 418 cannot be configured in Envoy: its StatusCode enum has no such status\n');
  });
});
