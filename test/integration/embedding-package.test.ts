// The package as a consumer gets it: `npm pack`, installed from the tarball into an empty project,
// a TypeScript program type-checked against the shipped declarations (skipLibCheck off), run, and a
// decision obtained over gRPC from the agent it embeds.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBundle, ROOT } from '../helpers/tools.js';

const require = createRequire(import.meta.url);
/** The versions this project installed, so that npm finds them in its cache. */
const versionOf = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const PROGRAM = `import { createAgent, DEFAULT_POLICY, PolicyLoadError, type AgentOptions, type Decision, type KmeshOpaAgent } from 'kmesh-opa';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// The shipped types know each setting's type: a status code is a number.
// @ts-expect-error statusOnError takes a number
const wrong: AgentOptions = { statusOnError: '403' };
void wrong;

const options: AgentOptions = { extAuthzAddr: '127.0.0.1:0', opaAddr: '127.0.0.1:0', diagnosticAddr: '127.0.0.1:0', logLevel: 'error' };
const agent: KmeshOpaAgent = await createAgent(options);
const decisions: Decision[] = [];
agent.on('decision', (d) => decisions.push(d));
const refused = await agent.setPolicy({ bundle: new Uint8Array([1, 2, 3]) }).then(() => false, (err: unknown) => err instanceof PolicyLoadError);
await agent.setPolicy({ bundle: readFileSync(process.argv[2]!) });
const ports = await agent.start();
const ready = await agent.ready;

const protos = join(dirname(createRequire(import.meta.url).resolve('kmesh-opa/package.json')), 'protos');
const definition = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [protos], defaults: true });
type CheckClient = grpc.Client & { Check(req: object, cb: (err: grpc.ServiceError | null, res: { status: { code: number } }) => void): void };
const root = grpc.loadPackageDefinition(definition) as unknown as { envoy: { service: { auth: { v3: { Authorization: new (address: string, creds: grpc.ChannelCredentials) => CheckClient } } } } };
const client = new root.envoy.service.auth.v3.Authorization('127.0.0.1:' + ports.grpc, grpc.credentials.createInsecure());
const check = (user: string) =>
  new Promise<number>((resolve, reject) =>
    client.Check({ attributes: { request: { http: { method: 'GET', path: '/', headers: { 'x-user': user } } } } }, (err, res) => (err ? reject(err) : resolve(res.status.code))),
  );
const alice = await check('alice');
const bob = await check('bob');
client.close();
const metrics = await agent.registry.metrics();
await agent.stop();
console.log(JSON.stringify({ alice, bob, refused, readyOnStartPorts: ready.ports.grpc === ports.grpc, decisions: decisions.map((d) => d.allowed), metricsOwn: /^kmesh_opa_decisions_total\\{decision="allow"\\} 1$/m.test(metrics), defaultPolicy: DEFAULT_POLICY.endsWith('default.rego') }));
`;

const TSCONFIG = {
  compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023'], types: ['node'], strict: true, skipLibCheck: false, outDir: 'out' },
  files: ['main.ts'],
};

describe('npm package', () => {
  it('installs from its tarball, type-checks a consumer with skipLibCheck off, and decides over gRPC', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-consumer-'));
    const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], ROOT)) as { filename: string; files: { path: string }[] }[];
    const files = packed[0]!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'policies/default.rego', 'protos/envoy/service/auth/v3/external_auth.proto']));
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.map'))).toEqual([]);

    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    npm(
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(dir, packed[0]!.filename),
        `typescript@${versionOf('typescript')}`,
        `@types/node@${versionOf('@types/node')}`,
        `@grpc/grpc-js@${versionOf('@grpc/grpc-js')}`,
        `@grpc/proto-loader@${versionOf('@grpc/proto-loader')}`,
      ],
      dir,
    );
    writeFileSync(join(dir, 'main.ts'), PROGRAM);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    // Type errors fail here with tsc's own report.
    execFileSync(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, stdio: 'pipe' });

    const policy = join(dir, 'policy.rego');
    writeFileSync(policy, 'package envoy.authz\n\ndefault allow := false\n\nallow if input.attributes.request.http.headers["x-user"] == "alice"\n');
    const out = execFileSync(process.execPath, [join(dir, 'out', 'main.js'), buildBundle([policy])], { cwd: dir, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ alice: 0, bob: 7, refused: true, readyOnStartPorts: true, decisions: [true, false], metricsOwn: true, defaultPolicy: true });
    expect(readFileSync(join(dir, 'node_modules', 'kmesh-opa', 'package.json'), 'utf8')).toContain('"kmesh-opa"');
  }, 300_000);
});
