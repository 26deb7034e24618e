// plugins.envoy_ext_authz_grpc.enable-reflection: grpcurl (a client nobody here wrote) lists and describes
// the services without being given any proto file.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, ROOT, startAgent, type AgentProcess } from '../helpers/tools.js';

const GRPCURL = join(ROOT, '.tools', 'bin', 'grpcurl');

describe('gRPC server reflection', () => {
  let on: AgentProcess;
  let off: AgentProcess;
  beforeAll(async () => {
    const bundle = buildBundle(['echo.rego']);
    on = await startAgent(['--opa-set', 'plugins.envoy_ext_authz_grpc.enable-reflection=true', bundle]);
    off = await startAgent([bundle]);
  });
  afterAll(async () => {
    await on?.stop();
    await off?.stop();
  });

  it('lists the Authorization services and health when enabled', () => {
    const out = execFileSync(GRPCURL, ['-plaintext', on.address, 'list'], { encoding: 'utf8' });
    expect(out.split('\n')).toEqual(expect.arrayContaining(['envoy.service.auth.v3.Authorization', 'envoy.service.auth.v2.Authorization']));
    const described = execFileSync(GRPCURL, ['-plaintext', on.address, 'describe', 'envoy.service.auth.v3.CheckRequest'], { encoding: 'utf8' });
    expect(described).toContain('.envoy.service.auth.v3.AttributeContext attributes = 1;');
    const metadata = execFileSync(GRPCURL, ['-plaintext', on.address, 'describe', 'envoy.config.core.v3.Metadata'], { encoding: 'utf8' });
    expect(metadata).toContain('map<string, .google.protobuf.Struct> filter_metadata = 1;');
  });

  it('a Check made with nothing but reflection gets the policy decision', () => {
    const request = JSON.stringify({ attributes: { request: { http: { method: 'GET', path: '/reflected?x=1' } } } });
    const out = execFileSync(GRPCURL, ['-plaintext', '-d', request, on.address, 'envoy.service.auth.v3.Authorization/Check'], { encoding: 'utf8' });
    const reply = JSON.parse(out) as { dynamicMetadata: { input: { parsed_path: string[]; parsed_query: Record<string, string[]> } } };
    expect(reply.dynamicMetadata.input.parsed_path).toEqual(['reflected']);
    expect(reply.dynamicMetadata.input.parsed_query).toEqual({ x: ['1'] });
  });

  it('is off by default (bad input: asking for the service list fails)', () => {
    expect(() => execFileSync(GRPCURL, ['-plaintext', off.address, 'list'], { encoding: 'utf8', stdio: 'pipe' })).toThrow(/does not support the reflection API|Unimplemented/);
  });
});
