import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { applyOverrides, parseOverrides, substituteEnv } from '../../../src/config/opa-config.js';
import { resolveSettings, SettingsError } from '../../../src/config/settings.js';

function configFile(text: string, name = 'config.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-config-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('settings: each variable and its flag, with the seed defaults', () => {
  const cases: [key: string, env: string, flag: string, value: string, expected: unknown, def: unknown][] = [
    ['opaAddr', 'KMESH_OPA_ADDR', '--opa-addr', '127.0.0.1:8888', '127.0.0.1:8888', 'localhost:8181'],
    ['configPath', 'KMESH_OPA_CONFIG_PATH', '--opa-config-path', '/etc/opa.yaml', '/etc/opa.yaml', undefined],
    ['diagnosticAddr', 'KMESH_OPA_DIAGNOSTIC_ADDR', '--opa-diagnostic-addr', '127.0.0.1:9999', '127.0.0.1:9999', '0.0.0.0:8282'],
    ['enabled', 'KMESH_OPA_ENABLED', '--opa-enabled', 'false', false, true],
    ['extAuthzAddr', 'KMESH_OPA_EXT_AUTHZ_ADDR', '--opa-ext-authz-addr', '127.0.0.1:7777', '127.0.0.1:7777', 'localhost:9191'],
    ['configOverrides', 'KMESH_OPA_CONFIG_OVERRIDES', '--opa-set', 'a.b=1', ['a.b=1'], ['plugins.envoy_ext_authz_grpc.query=data.envoy.authz.allow']],
  ];
  for (const [key, env, flag, value, expected, def] of cases) {
    it(`${env} / ${flag}`, () => {
      const k = key as keyof ReturnType<typeof resolveSettings>['settings'];
      expect(resolveSettings([], {}).settings[k]).toEqual(def);
      expect(resolveSettings([], { [env]: value }).settings[k]).toEqual(expected);
      expect(resolveSettings([`${flag}=${value}`], {}).settings[k]).toEqual(expected);
      expect(resolveSettings([flag, value], {}).settings[k]).toEqual(expected);
    });
  }

  it(':port means every interface, as the seed KMESH_OPA_ADDR ":8888"', () => {
    expect(resolveSettings([], { KMESH_OPA_ADDR: ':8888' }).settings.opaAddr).toBe('0.0.0.0:8888');
  });

  it('a bare boolean flag means true; --opa-enabled=false means false', () => {
    expect(resolveSettings(['--dry-run'], {}).settings.dryRun).toBe(true);
    expect(resolveSettings(['--opa-enabled=false'], {}).settings.enabled).toBe(false);
  });

  it('--opa-set is repeatable and accumulates', () => {
    expect(resolveSettings(['--opa-set', 'a=1', '--opa-set=b=2'], {}).settings.configOverrides).toEqual(['a=1', 'b=2']);
  });
});

describe('settings: precedence flag > environment > config file > default', () => {
  it('each layer beats the ones below it', async () => {
    const path = configFile('plugins:\n  envoy_ext_authz_grpc:\n    addr: 127.0.0.1:1001\n');
    const fromFile = await loadConfig(['--opa-config-path', path], {});
    expect(fromFile.settings.extAuthzAddr).toBe('127.0.0.1:1001');
    expect(fromFile.origins.extAuthzAddr).toBe('config');
    const fromEnv = await loadConfig(['--opa-config-path', path], { KMESH_OPA_EXT_AUTHZ_ADDR: '127.0.0.1:1002' });
    expect(fromEnv.settings.extAuthzAddr).toBe('127.0.0.1:1002');
    const fromFlag = await loadConfig(['--opa-config-path', path, '--opa-ext-authz-addr', '127.0.0.1:1003'], { KMESH_OPA_EXT_AUTHZ_ADDR: '127.0.0.1:1002' });
    expect(fromFlag.settings.extAuthzAddr).toBe('127.0.0.1:1003');
  });

  it('the default override sets the Kong Mesh query; a --path flag still wins over it', async () => {
    const def = await loadConfig([], {});
    expect(def.settings.query).toBe('data.envoy.authz.allow');
    expect(def.opaConfig).toEqual({ plugins: { envoy_ext_authz_grpc: { query: 'data.envoy.authz.allow' } } });
    const withPath = await loadConfig(['--path', 'my/rule'], {});
    expect(withPath.settings.query).toBe('');
    expect(withPath.settings.path).toBe('my/rule');
  });

  it('overrides apply over the config file', async () => {
    const path = configFile('{"plugins":{"envoy_ext_authz_grpc":{"path":"a/b","dry-run":false}},"labels":{"app":"web"}}', 'c.json');
    const loaded = await loadConfig(['--opa-config-path', path, '--opa-set', 'plugins.envoy_ext_authz_grpc.dry-run=true,labels.team=x'], {});
    expect(loaded.settings.dryRun).toBe(true);
    expect(loaded.opaConfig.labels).toEqual({ app: 'web', team: 'x' });
  });

  it('plugin keys of the config file are honoured', async () => {
    const path = configFile(
      [
        'plugins:',
        '  envoy_ext_authz_grpc:',
        '    addr: ":9292"',
        '    path: envoy/authz/decision',
        '    dry-run: true',
        '    skip-request-body-parse: true',
        '    grpc-max-recv-msg-size: 8192',
        '    grpc-max-send-msg-size: 16384',
        '    enable-reflection: true',
        '    grpc-request-duration-seconds-buckets: [0.001, 0.01, 0.1]',
      ].join('\n'),
    );
    const { settings } = await loadConfig(['--opa-config-path', path, '--opa-set', 'plugins.envoy_ext_authz_grpc.path=envoy/authz/decision'], {});
    expect(settings).toMatchObject({
      extAuthzAddr: '0.0.0.0:9292',
      dryRun: true,
      skipRequestBodyParse: true,
      grpcMaxRecvMsgSize: 8192,
      grpcMaxSendMsgSize: 16384,
      enableReflection: true,
      grpcRequestDurationBuckets: [0.001, 0.01, 0.1],
    });
  });

  it('${VAR} in the config file is substituted from the environment (unset: empty)', async () => {
    const path = configFile('labels:\n  region: ${REGION}\n  zone: "${UNSET_VAR_FOR_TEST}"\n');
    const loaded = await loadConfig(['--opa-config-path', path], { REGION: 'eu-west' });
    expect(loaded.opaConfig.labels).toEqual({ region: 'eu-west', zone: '' });
    expect(substituteEnv('x ${A} $B ${ B }', { A: '1', B: '2' })).toBe('x 1 $B 2');
  });
});

describe('overrides: OPA --set syntax', () => {
  it('dotted keys, list indexes, typed values and {a,b} lists', () => {
    const doc = applyOverrides({}, parseOverrides('services[0].url=http://x:1,services[0].name=acme,a.n=42,a.t=true,a.s=042,a.l={x,y},a.z=null'));
    expect(doc).toEqual({ services: [{ url: 'http://x:1', name: 'acme' }], a: { n: 42, t: true, s: '042', l: ['x', 'y'], z: null } });
  });

  it("the seed's annotation form config1:x,config2:y is accepted", () => {
    expect(applyOverrides({}, parseOverrides('config1:x,config2:y'))).toEqual({ config1: 'x', config2: 'y' });
  });

  it('an escaped comma stays in the value', () => {
    expect(applyOverrides({}, parseOverrides('a=x\\,y,b=z'))).toEqual({ a: 'x,y', b: 'z' });
  });
});

describe('bad values stop start-up with one line naming setting, origin and what is allowed', () => {
  const bad: [what: string, argv: string[], env: Record<string, string>, message: RegExp][] = [
    ['an address without a port', ['--opa-addr', 'localhost'], {}, /invalid value "localhost" for opa-addr from flag --opa-addr; allowed: host:port or :port/],
    ['a port over 65535', [], { KMESH_OPA_EXT_AUTHZ_ADDR: ':70000' }, /opa-ext-authz-addr from environment variable KMESH_OPA_EXT_AUTHZ_ADDR/],
    ['a non-boolean enabled', [], { KMESH_OPA_ENABLED: 'perhaps' }, /invalid value "perhaps" for opa-enabled .*allowed: true or false/],
    ['onAgentFailure "maybe"', ['--on-agent-failure=maybe'], {}, /allowed: allow or deny/],
    ['statusOnError 42', ['--status-on-error', '42'], {}, /allowed: an HTTP status code 100-599/],
    ['an unknown flag', ['--opa-nonsense=1'], {}, /unknown flag --opa-nonsense/],
    ['a flag without its value', ['--opa-addr'], {}, /flag --opa-addr needs a value/],
  ];
  for (const [what, argv, env, message] of bad) {
    it(`bad input: ${what}`, () => {
      expect(() => resolveSettings(argv, env)).toThrow(SettingsError);
      expect(() => resolveSettings(argv, env)).toThrow(message);
    });
  }

  it('bad input: a config file key of the wrong kind names the file and key', async () => {
    const path = configFile('plugins:\n  envoy_ext_authz_grpc:\n    grpc-max-recv-msg-size: lots\n');
    await expect(loadConfig(['--opa-config-path', path], {})).rejects.toThrow(
      new RegExp(`invalid value "lots" for grpc-max-recv-msg-size from config file ${path} key plugins.envoy_ext_authz_grpc.grpc-max-recv-msg-size`),
    );
  });

  it('bad input: an override with a bad value names the override', async () => {
    await expect(loadConfig(['--opa-set', 'plugins.envoy_ext_authz_grpc.addr=nonsense'], {})).rejects.toThrow(
      'invalid value "nonsense" for opa-ext-authz-addr from override "plugins.envoy_ext_authz_grpc.addr=nonsense"; allowed: host:port or :port',
    );
  });

  it('bad input: an override without = or :', async () => {
    await expect(loadConfig(['--opa-set', 'justakey'], {})).rejects.toThrow(/invalid opa-set from flag --opa-set: override "justakey" is not key=value/);
  });

  it('bad input: unreadable and unparsable config files', async () => {
    await expect(loadConfig(['--opa-config-path', '/nonexistent/opa.yaml'], {})).rejects.toThrow(/cannot read config file \/nonexistent\/opa.yaml: ENOENT/);
    const path = configFile('plugins: [unclosed\n');
    await expect(loadConfig(['--opa-config-path', path], {})).rejects.toThrow(/not valid YAML or JSON/);
    const list = configFile('- a\n- b\n');
    await expect(loadConfig(['--opa-config-path', list], {})).rejects.toThrow(/must be a mapping/);
  });

  it('bad input: a label that is not a string', async () => {
    const path = configFile('labels:\n  n:\n    nested: 1\n');
    await expect(loadConfig(['--opa-config-path', path], {})).rejects.toThrow(/invalid labels.n .*label values must be strings/);
  });
});
