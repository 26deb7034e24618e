// The listener under bad and heavy traffic: malformed protobuf bytes (sent raw, past any client-side
// encoder), requests over --grpc-max-recv-msg-size, and a thousand checks at once.
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoedInput } from '../helpers/differential.js';
import { decodeCheckResponse, envoyClient, httpRequest, structToJson, type EnvoyClient } from '../helpers/envoy-client.js';
import { startPlugin, type PluginProcess } from '../helpers/peer.js';
import { POLICIES, startAgent, type AgentProcess } from '../helpers/tools.js';

const ECHO = join(POLICIES, 'echo.rego');
const CHECK_V3 = '/envoy.service.auth.v3.Authorization/Check';
const CHECK_V2 = '/envoy.service.auth.v2.Authorization/Check';

type RawResult = { code: number; body?: Buffer };

/** Sends bytes as they are, as the request message of a unary call. */
function rawCheck(client: grpc.Client, method: string, bytes: Buffer): Promise<RawResult> {
  const identity = (b: Buffer) => b;
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, identity, identity, bytes, { deadline: Date.now() + 10_000 }, (err, body) => {
      resolve(err ? { code: err.code } : { code: grpc.status.OK, ...(body ? { body } : {}) });
    });
  });
}

const MALFORMED: Record<string, Buffer> = {
  'a varint tag of 11 bytes': Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
  'a length prefix longer than the message (attributes says 5 bytes, 1 follows)': Buffer.from([0x0a, 0x05, 0x01]),
  'a truncated varint length': Buffer.from([0x0a, 0x80]),
  'field number 0': Buffer.from([0x02, 0x00]),
  'an unterminated group': Buffer.from([0x0b, 0x08, 0x01]),
  'an end-group without a start': Buffer.from([0x0c]),
  'wire type 6 (undefined)': Buffer.from([0x0e, 0x00]),
  // attributes { request { http { method: "\xff" } } }: proto3 strings must be UTF-8.
  'invalid UTF-8 in a string field': Buffer.from([0x0a, 0x07, 0x22, 0x05, 0x12, 0x03, 0x12, 0x01, 0xff]),
};

describe('robustness: malformed protobuf bytes', () => {
  let agent: AgentProcess;
  let plugin: PluginProcess;
  let ours: grpc.Client;
  let theirs: grpc.Client;
  let check: EnvoyClient;

  beforeAll(async () => {
    [agent, plugin] = await Promise.all([startAgent([ECHO]), startPlugin([ECHO])]);
    ours = new grpc.Client(agent.address, grpc.credentials.createInsecure());
    theirs = new grpc.Client(plugin.address, grpc.credentials.createInsecure());
    check = envoyClient(agent.address);
  });
  afterAll(async () => {
    ours?.close();
    theirs?.close();
    check?.close();
    await Promise.all([agent?.stop(), plugin?.stop()]);
  });

  for (const [name, bytes] of Object.entries(MALFORMED)) {
    it(`bad input: ${name} gets a gRPC error status as from the Go plugin, and the server serves on`, async () => {
      for (const method of [CHECK_V3, CHECK_V2]) {
        const [mine, go] = await Promise.all([rawCheck(ours, method, bytes), rawCheck(theirs, method, bytes)]);
        expect(go.code).not.toBe(grpc.status.OK);
        expect(mine.code).toBe(go.code);
      }
      const res = await check.check(httpRequest({ path: '/after' }));
      expect(structToJson(res.dynamic_metadata)).toHaveProperty('input.parsed_path', ['after']);
      expect(agent.child.exitCode).toBeNull();
    });
  }

  it('a known field with the wrong wire type is skipped as the Go plugin skips it (attributes sent as a varint)', async () => {
    const bytes = Buffer.from([0x08, 0x01]);
    const [mine, go] = await Promise.all([rawCheck(ours, CHECK_V3, bytes), rawCheck(theirs, CHECK_V3, bytes)]);
    expect(go.code).toBe(grpc.status.OK);
    expect(mine.code).toBe(grpc.status.OK);
    const input = (r: RawResult) => structToJson(decodeCheckResponse(r.body!).dynamic_metadata).input;
    expect(input(mine)).toEqual(input(go));
  });

  it('an empty message is a valid CheckRequest for both', async () => {
    const [mine, go] = await Promise.all([rawCheck(ours, CHECK_V3, Buffer.alloc(0)), rawCheck(theirs, CHECK_V3, Buffer.alloc(0))]);
    expect(go.code).toBe(grpc.status.OK);
    expect(mine.code).toBe(grpc.status.OK);
  });
});

describe('robustness: --grpc-max-recv-msg-size 2048', () => {
  let agent: AgentProcess;
  let client: EnvoyClient;

  beforeAll(async () => {
    agent = await startAgent([ECHO, '--grpc-max-recv-msg-size', '2048']);
    client = envoyClient(agent.address);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop();
  });

  it('a CheckRequest larger than the limit (a 4 KiB header) gets RESOURCE_EXHAUSTED', async () => {
    const big = httpRequest({ headers: { 'x-big': 'x'.repeat(4096) } });
    await expect(client.check(big)).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
  });

  it('a request under the limit is still answered afterwards', async () => {
    const res = await client.check(httpRequest({ path: '/small' }));
    expect(res.status?.code ?? 0).toBe(0);
  });
});

describe('robustness: 1,000 concurrent checks', () => {
  let agent: AgentProcess;
  let v3: EnvoyClient;
  let v2: EnvoyClient;

  beforeAll(async () => {
    agent = await startAgent([ECHO]);
    v3 = envoyClient(agent.address, 'v3');
    v2 = envoyClient(agent.address, 'v2');
  });
  afterAll(async () => {
    v3?.close();
    v2?.close();
    await agent?.stop();
  });

  it('every one is answered with its own input (v3 and v2 interleaved)', async () => {
    const n = 1000;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const version = i % 2 === 0 ? 'v3' : 'v2';
        const request = httpRequest({ path: `/item/${i}?n=${i}`, headers: { 'x-n': String(i) } });
        return echoedInput(version === 'v3' ? v3 : v2, version, request).then((input) => ({ i, input }));
      }),
    );
    for (const { i, input } of results) {
      expect(input).toMatchObject({ parsed_path: ['item', String(i)], parsed_query: { n: [String(i)] } });
    }
  });
});
