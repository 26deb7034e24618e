// Status reports received by a real loopback HTTP server standing in for a status consumer. Field names,
// omissions and timestamp text are those of OPA 1.19's UpdateRequestV1 and bundle.Status JSON.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createStatusReporter, goTime, parseStatusConfig, type StatusSnapshot } from '../../../src/bundles/status.js';
import { createLogger } from '../../../src/log.js';
import { createServiceClients } from '../../../src/services/client.js';
import { parseServices } from '../../../src/services/config.js';

interface Received {
  method: string;
  url: string;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

async function consumer(answer: (n: number) => number): Promise<{ url: string; received: Received[]; next: (count: number) => Promise<void> }> {
  const received: Received[] = [];
  const waiters: Array<() => void> = [];
  server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body: JSON.parse(text) as Record<string, unknown> });
      res.statusCode = answer(received.length);
      res.end();
      waiters.splice(0).forEach((w) => w());
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const next = async (count: number) => {
    while (received.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { url, received, next };
}

const quiet = createLogger('error', { write: () => true });
const T = new Date('2024-05-01T10:20:30.120Z');

const SNAPSHOT: StatusSnapshot = {
  bundles: { authz: { name: 'authz', activeRevision: 'rev-1', lastSuccessfulActivation: T, lastSuccessfulDownload: T, lastSuccessfulRequest: T, lastRequest: T, type: 'snapshot', size: 1234 } },
  plugins: { bundle: { state: 'OK' }, discovery: { state: 'NOT_READY' } },
  discovery: { name: 'discovery', lastRequest: T, code: 'bundle_error', message: 'server replied with Not Found', httpCode: 404 },
};

describe('status reporter', () => {
  it('POSTs OPA\'s UpdateRequestV1 body to /status/<partition_name>', async () => {
    const c = await consumer(() => 200);
    const services = createServiceClients(parseServices({ acmecorp: { url: c.url } }));
    const reporter = createStatusReporter({ services, config: { service: 'acmecorp', partition_name: 'p1' }, labels: { id: 'agent-1', version: '1.19.1' }, log: quiet });
    reporter.update(SNAPSHOT);
    await c.next(1);
    await reporter.stop();
    await services.close();
    expect(c.received[0]).toMatchObject({ method: 'POST', url: '/status/p1', contentType: 'application/json' });
    expect(c.received[0]!.body).toEqual({
      labels: { id: 'agent-1', version: '1.19.1' },
      bundles: {
        authz: {
          name: 'authz',
          active_revision: 'rev-1',
          last_successful_activation: '2024-05-01T10:20:30.12Z',
          type: 'snapshot',
          size: 1234,
          last_successful_download: '2024-05-01T10:20:30.12Z',
          last_successful_request: '2024-05-01T10:20:30.12Z',
          last_request: '2024-05-01T10:20:30.12Z',
        },
      },
      discovery: {
        name: 'discovery',
        last_successful_activation: '0001-01-01T00:00:00Z',
        last_successful_download: '0001-01-01T00:00:00Z',
        last_successful_request: '0001-01-01T00:00:00Z',
        last_request: '2024-05-01T10:20:30.12Z',
        code: 'bundle_error',
        message: 'server replied with Not Found',
        http_code: 404,
      },
      plugins: { bundle: { state: 'OK' }, discovery: { state: 'NOT_READY' } },
    });
  });

  it('sends the latest of a burst after the one in flight, not every update', async () => {
    const c = await consumer(() => 200);
    const services = createServiceClients(parseServices({ acmecorp: { url: c.url } }));
    const reporter = createStatusReporter({ services, config: { service: 'acmecorp' }, labels: {}, log: quiet });
    for (const state of ['A', 'B', 'C', 'D']) reporter.update({ bundles: {}, plugins: { p: { state } } });
    await c.next(2);
    await reporter.stop();
    await services.close();
    expect(c.received.map((r) => (r.body.plugins as Record<string, { state: string }>).p!.state)).toEqual(['A', 'D']);
    expect(c.received[0]!.url).toBe('/status');
  });

  it('retries a report the consumer refused with HTTP 503', async () => {
    const c = await consumer((n) => (n === 1 ? 503 : 200));
    const services = createServiceClients(parseServices({ acmecorp: { url: c.url } }));
    const errors: string[] = [];
    const log = { ...quiet, error: (msg: string) => void errors.push(msg) };
    const reporter = createStatusReporter({ services, config: { service: 'acmecorp' }, labels: {}, log, maxRetryDelayMs: 200 });
    reporter.update({ bundles: {}, plugins: { p: { state: 'OK' } } });
    await c.next(2);
    await reporter.stop();
    await services.close();
    expect(errors).toEqual(['status update failed, server replied with HTTP 503 Service Unavailable.']);
    expect(c.received[1]!.body).toEqual(c.received[0]!.body);
  });
});

describe('parseStatusConfig and goTime', () => {
  it('defaults the service to the first one and refuses an unknown one', () => {
    expect(parseStatusConfig({}, ['a', 'b'])).toEqual({ service: 'a', console: false });
    expect(parseStatusConfig({ console: true }, ['a'])).toEqual({ console: true });
    expect(() => parseStatusConfig({ service: 'x' }, ['a'])).toThrow('invalid service name "x" in status');
    expect(parseStatusConfig({}, [])).toBeUndefined();
  });

  it('writes Go RFC3339Nano text: no fraction for whole seconds, trailing zeros dropped', () => {
    expect(goTime(new Date('2024-01-02T03:04:05.000Z'))).toBe('2024-01-02T03:04:05Z');
    expect(goTime(new Date('2024-01-02T03:04:05.100Z'))).toBe('2024-01-02T03:04:05.1Z');
    expect(goTime(undefined)).toBe('0001-01-01T00:00:00Z');
  });
});
