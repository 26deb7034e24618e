// A bundle server for what nginx cannot be made to do: fail, hang, cut a body short, keep one ETag,
// change content types, hold long polls. Each request is recorded and answered by the current handler.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  at: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

export interface FaultServer {
  url: string;
  requests: RecordedRequest[];
  /** Answers every later request with this handler (n counts requests from 0). */
  handle(handler: Handler): void;
  /** Resolves when the server has received `count` requests in all. */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultServer(initial: Handler = notFound): Promise<FaultServer> {
  let handler = initial;
  const requests: RecordedRequest[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, at: Date.now() });
    for (const w of waiters.filter((w) => requests.length >= w.count)) w.resolve();
    handler(req, res, requests.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle: (h) => (handler = h),
    waitForRequests: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        if (requests.length >= count) return resolve();
        const timer = setTimeout(() => reject(new Error(`only ${requests.length} of ${count} requests arrived`)), timeoutMs);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const notFound: Handler = (_req, res) => {
  res.writeHead(404).end();
};

/** Answers 200 with the bundle; `etag` and `contentType` as given. */
export function serve(bytes: Uint8Array, opts: { etag?: string; contentType?: string } = {}): Handler {
  return (_req, res) => {
    res.writeHead(200, {
      'content-type': opts.contentType ?? 'application/gzip',
      'content-length': bytes.length,
      ...(opts.etag ? { etag: opts.etag } : {}),
    });
    res.end(bytes);
  };
}
