// The embedded default policy is the seed page's JWT example: its walk-through, over real gRPC with
// Envoy's official protos.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyClient, httpRequest, type EnvoyClient } from '../helpers/envoy-client.js';
import { ADMIN_TOKEN } from '../helpers/seed.js';
import { startAgent, type AgentProcess } from '../helpers/tools.js';


describe('embedded default policy (seed JWT example)', () => {
  let agent: AgentProcess;
  let v3: EnvoyClient;
  let v2: EnvoyClient;

  beforeAll(async () => {
    agent = await startAgent([]);
    v3 = envoyClient(agent.address, 'v3');
    v2 = envoyClient(agent.address, 'v2');
  });
  afterAll(async () => {
    v3?.close();
    v2?.close();
    await agent?.stop();
  });

  it('denies a request without a token with 403 semantics (PERMISSION_DENIED)', async () => {
    const res = await v3.check(httpRequest({ method: 'GET', path: '/' }));
    expect(res.status?.code).toBe(7);
    // A boolean decision carries no http_response (as the Go plugin): Envoy answers its default 403.
    expect(res.http_response).toBeUndefined();
  });

  it('allows GET with the seed ADMIN_TOKEN', async () => {
    const res = await v3.check(httpRequest({ method: 'GET', path: '/', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
    expect(res.status?.code ?? 0).toBe(0);
    expect(res.http_response).toBeUndefined();
  });

  it('denies POST with the ADMIN_TOKEN (action_allowed needs GET)', async () => {
    const res = await v3.check(httpRequest({ method: 'POST', path: '/', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
    expect(res.status?.code).toBe(7);
  });

  it('denies a token signed with another secret (bad input: wrong HS256 key)', async () => {
    const [h, p] = ADMIN_TOKEN.split('.');
    const { createHmac } = await import('node:crypto');
    const sig = createHmac('sha256', 'not-the-secret').update(`${h}.${p}`).digest('base64url');
    const res = await v3.check(httpRequest({ method: 'GET', path: '/', headers: { authorization: `Bearer ${h}.${p}.${sig}` } }));
    expect(res.status?.code).toBe(7);
  });

  it('denies an expired admin token (bad input: exp in the past)', async () => {
    const { createHmac } = await import('node:crypto');
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const head = enc({ alg: 'HS256', typ: 'JWT' });
    const body = enc({ role: 'admin', sub: 'x', nbf: 1514851139, exp: 1600000000 });
    const sig = createHmac('sha256', 'secret').update(`${head}.${body}`).digest('base64url');
    const res = await v3.check(httpRequest({ method: 'GET', path: '/', headers: { authorization: `Bearer ${head}.${body}.${sig}` } }));
    expect(res.status?.code).toBe(7);
  });

  it('answers on the v2 API too', async () => {
    const allow = await v2.check(httpRequest({ method: 'GET', path: '/', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
    expect(allow.status?.code ?? 0).toBe(0);
    const deny = await v2.check(httpRequest({ method: 'GET', path: '/' }));
    expect(deny.status?.code).toBe(7);
  });
});
