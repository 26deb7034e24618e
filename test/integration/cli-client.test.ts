// The client commands (kumactl's, as kmesh-opa's) against a real agent: the Universal RBAC walk-through of
// Kong Mesh's docs (shared/seeds/rbac.txt) typed with kmesh-opa, then get/delete/apply's outputs and failures.
// Expected texts are kumactl's (app/kumactl/cmd/**, its golden files) and the walk-through's.
import { spawn } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startAgent, type AgentProcess } from '../helpers/tools.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let agent: AgentProcess;
let home: string;
let configFile: string;

/** `kmesh-opa <args>` with `stdin` piped in, under a temporary HOME and control-planes file. */
function ctl(args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, HOME: home, KMESH_OPA_CTL_CONFIG: configFile }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolveRun({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const POLICY = (name: string, rule = 'default allow := true') => `
type: OPAPolicy
mesh: default
name: ${name}
selectors:
- match:
    kuma.io/service: backend
conf:
  policies:
  - inlineString: |
      package envoy.authz
      import rego.v1
      ${rule}
`;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'kmesh-opa-ctl-home-'));
  configFile = join(home, 'ctl', 'config.yaml');
  // As the walk-through requires: localhost is not admin, so every call is authenticated by its token.
  agent = await startAgent(['--api-authn-localhost-is-admin=false']);
}, 90_000);

afterAll(async () => {
  await agent?.stop();
});

describe('the RBAC walk-through, typed with kmesh-opa', () => {
  it('configures admin and backend-owner, restricts by default, and denies the owner another policy', async () => {
    // 1. Extract the admin token and configure the client with it.
    const secret = (await (await fetch(`${agent.restUrl}/global-secrets/admin-user-token`)).json()) as { data: string };
    const adminToken = Buffer.from(secret.data, 'base64').toString('utf8');
    const addAdmin = await ctl(['config', 'control-planes', 'add', '--name=cp-admin', `--address=${agent.restUrl}`, '--auth-type=tokens', '--auth-conf', `token=${adminToken}`]);
    expect(addAdmin).toEqual({ code: 0, stdout: 'added Control Plane "cp-admin"\nswitched active Control Plane to "cp-admin"\n', stderr: '' });
    expect(statSync(configFile).mode & 0o777).toBe(0o600);

    // 2. Configure backend-owner.
    const token = await ctl(['generate', 'user-token', '--valid-for=24h', '--name', 'backend-owner']);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect((await ctl(['config', 'control-planes', 'add', '--name=cp-backend-owner', `--address=${agent.restUrl}`, '--auth-type=tokens', '--auth-conf', `token=${token.stdout}`])).code).toBe(0);
    expect(await ctl(['config', 'control-planes', 'switch', '--name', 'cp-admin'])).toEqual({ code: 0, stdout: 'switched active Control Plane to "cp-admin"\n', stderr: '' });
    const list = await ctl(['config', 'control-planes', 'list']);
    expect(list.stdout).toBe(`ACTIVE   NAME               ADDRESS\n*        cp-admin           ${agent.restUrl}\n         cp-backend-owner   ${agent.restUrl}\n`);

    // 3. Restrict access by default.
    const binding = await ctl(['apply', '-f', '-'], 'type: AccessRoleBinding\nname: default\nsubjects:\n- type: Group\n  name: mesh-system:admin\nroles:\n- admin');
    expect(binding).toEqual({ code: 0, stdout: 'resource type="AccessRoleBinding" mesh="" name="default" Updated\n', stderr: '' });

    // 4. Let backend-owner modify only its own policy.
    const role = `
type: AccessRole
name: backend-owner
rules:
- types: ["OPAPolicy"]
  names: ["backend-policy"]
  mesh: default
  access: ["CREATE", "UPDATE", "DELETE"]
`;
    expect((await ctl(['apply', '-f', '-'], role)).stdout).toBe('resource type="AccessRole" mesh="" name="backend-owner" Created\n');
    const owners = await ctl(['apply', '-f', '-'], 'type: AccessRoleBinding\nname: backend-owners\nsubjects:\n- type: User\n  name: backend-owner\nroles:\n- backend-owner');
    expect(owners.code).toBe(0);

    // 5. Change the user and test RBAC.
    expect((await ctl(['config', 'control-planes', 'switch', '--name', 'cp-backend-owner'])).code).toBe(0);
    expect(await ctl(['apply', '-f', '-'], POLICY('backend-policy'))).toEqual({ code: 0, stdout: 'resource type="OPAPolicy" mesh="default" name="backend-policy" Created\n', stderr: '' });
    const denied = await ctl(['apply', '-f', '-'], POLICY('other-policy'));
    expect(denied.code).toBe(1);
    expect(denied.stdout).toBe('');
    expect(denied.stderr).toMatch(/^Error: Access Denied \(user "backend-owner\/mesh-system:authenticated" cannot access the resource.*\)\n$/);

    // Reads are open to every user.
    const get = await ctl(['get', 'opapolicies']);
    expect(get.code).toBe(0);
    expect(get.stdout).toMatch(/^MESH      NAME             AGE\ndefault   backend-policy   \d+s\n$/);
    expect((await ctl(['config', 'control-planes', 'switch', '--name', 'cp-admin'])).code).toBe(0);
  }, 60_000);
});

describe('get, delete and apply', () => {
  const admin = () => ['--address', agent.restUrl, '--token', adminToken];
  let adminToken = '';

  beforeAll(async () => {
    const secret = (await (await fetch(`${agent.restUrl}/global-secrets/admin-user-token`)).json()) as { data: string };
    adminToken = Buffer.from(secret.data, 'base64').toString('utf8');
  });

  it('prints one resource as kumactl does in yaml (metadata, then the spec) and json', async () => {
    expect((await ctl(['apply', '-f', '-', ...admin()], POLICY('printed', 'allow if input.x < 1'))).code).toBe(0);
    const yaml = await ctl(['get', 'OPAPolicy', 'printed', '-o', 'yaml', ...admin()]);
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toMatch(
      /^creationTime: "[-\dT:.]+Z"\nmesh: default\nmodificationTime: "[-\dT:.]+Z"\nname: printed\ntype: OPAPolicy\nconf:\n  policies:\n  - inlineString: \|\n      package envoy.authz\n      import rego.v1\n      allow if input.x < 1\nselectors:\n- match:\n    kuma.io\/service: backend\n$/,
    );
    const json = await ctl(['get', 'opapolicy', 'printed', '-o', 'json', ...admin()]);
    const parsed = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(Object.keys(parsed).slice(0, 5)).toEqual(['type', 'mesh', 'name', 'creationTime', 'modificationTime']);
    // Go's encoding/json escapes < as \u003c.
    expect(json.stdout).toContain('allow if input.x \\u003c 1');
  });

  it('round-trips get -o yaml through apply (timestamps dropped) as an update', async () => {
    const yaml = await ctl(['get', 'opapolicy', 'printed', '-o', 'yaml', ...admin()]);
    expect(await ctl(['apply', '-f', '-', ...admin()], yaml.stdout)).toEqual({ code: 0, stdout: 'resource type="OPAPolicy" mesh="default" name="printed" Updated\n', stderr: '' });
  });

  it('lists global kinds as NAME AGE and pages with --size, pointing at the next offset', async () => {
    const roles = await ctl(['get', 'access-roles', '--size', '1', ...admin()]);
    expect(roles.code).toBe(0);
    expect(roles.stdout).toMatch(/^NAME    AGE\nadmin   \d+[smh]\n\nRerun command with --offset=1 argument to retrieve more resources\n$/);
  });

  it('says when a resource is not there (get and delete of a missing name)', async () => {
    expect(await ctl(['get', 'opapolicy', 'nope', ...admin()])).toEqual({ code: 1, stdout: '', stderr: 'Error: No resources found in default mesh\n' });
    expect(await ctl(['get', 'access-role', 'nope', ...admin()])).toEqual({ code: 1, stdout: '', stderr: 'Error: No resources found\n' });
    expect(await ctl(['delete', 'opapolicy', 'nope', ...admin()])).toEqual({ code: 1, stdout: '', stderr: 'Error: there is no OPAPolicy with name "nope"\n' });
  });

  it('deletes', async () => {
    expect((await ctl(['apply', '-f', '-', ...admin()], POLICY('doomed'))).code).toBe(0);
    expect(await ctl(['delete', 'opapolicies', 'doomed', ...admin()])).toEqual({ code: 0, stdout: 'deleted OPAPolicy "doomed"\n', stderr: '' });
    expect((await ctl(['get', 'opapolicy', 'doomed', ...admin()])).code).toBe(1);
  });

  it("prints the server's invalid parameters one per line (conf missing)", async () => {
    const bad = await ctl(['apply', '-f', '-', ...admin()], 'type: OPAPolicy\nname: broken\nselectors:\n- match:\n    kuma.io/service: web\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Error: .+ \(.+\)\n\* conf: must be defined\n$/);
  });

  it('stops at the first refused document of several and says which (the second, without conf)', async () => {
    const run = await ctl(['apply', '-f', '-', ...admin()], `${POLICY('first')}---\ntype: OPAPolicy\nname: second\nselectors:\n- match:\n    kuma.io/service: web\n---${POLICY('third')}`);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('resource type="OPAPolicy" mesh="default" name="first" Created\n');
    expect(run.stderr).toMatch(/^Error: resource\[1\] type="OPAPolicy" mesh="default" name="second": .+\n\* conf: must be defined\n$/);
    expect((await ctl(['get', 'opapolicy', 'third', ...admin()])).code).toBe(1);
  });

  it('applies nothing when any document is malformed (type Foo, no name), reporting each', async () => {
    const run = await ctl(['apply', '-f', '-', ...admin()], `${POLICY('never')}---\ntype: Foo\nname: x\n---\ntype: Secret\n`);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'resource[1]: failed to parse resource: invalid resource type "Foo" (known: OPAPolicy, Secret, GlobalSecret, AccessRole, AccessRoleBinding)\nresource[2]: failed to read meta: name: cannot be empty\nError: failed to validate some resources\n',
    );
    expect((await ctl(['get', 'opapolicy', 'never', ...admin()])).code).toBe(1);
  });

  it('substitutes --var and prints instead of applying with --dry-run', async () => {
    const run = await ctl(['apply', '-f', '-', '--dry-run', '-v', 'svc=web'], 'type: Secret\nname: s-{{svc}}\ndata: dGVzdA==\n');
    expect(run).toEqual({ code: 0, stdout: 'mesh: default\nname: s-web\ntype: Secret\ndata: dGVzdA==\n', stderr: '' });
  });

  it('refuses a bad token with the server words (--token garbage)', async () => {
    const run = await ctl(['get', 'opapolicies', '--address', agent.restUrl, '--token', 'garbage']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: Invalid authentication data \(.+\)\n$/);
  });

  it('exits 2 on usage errors: an unknown type (trafficpermissions), apply without -f, --valid-for=24x', async () => {
    const unknown = await ctl(['get', 'trafficpermissions', ...admin()]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^Error: unknown TYPE: trafficpermissions\. Allowed values: access-role, /);
    expect((await ctl(['apply'])).stderr).toBe("Error: required flag(s) \"file\" not set\nRun 'kmesh-opa apply --help' for usage.\n");
    expect((await ctl(['generate', 'user-token', '--name', 'x', '--valid-for=24x'])).code).toBe(2);
  });

  it('prints --help for each command with exit 0', async () => {
    for (const cmd of [['apply'], ['get'], ['delete'], ['generate', 'user-token'], ['config', 'control-planes', 'add'], ['config', 'control-planes']]) {
      const run = await ctl([...cmd, '--help']);
      expect(run.code, cmd.join(' ')).toBe(0);
      expect(run.stdout).toMatch(/Usage:\n  kmesh-opa /);
    }
  });

  it('refuses to add a control plane that does not answer, unless --skip-check', async () => {
    const args = ['config', 'control-planes', 'add', '--name', 'gone', '--address', 'http://127.0.0.1:1', '--config-file', join(home, 'other.yaml')];
    const run = await ctl(args);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: could not connect to the Control Plane API Server: .*ECONNREFUSED/);
    expect((await ctl([...args, '--skip-check'])).code).toBe(0);
  });
});
