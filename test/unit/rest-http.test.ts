// The HTTP plumbing under the REST and diagnostics listeners: Go-compatible JSON and query parsing,
// net/http's path cleaning, and the listener's start and graceful stop.
import { createServer } from 'node:net';
import { request, type ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { boolParam, cleanPath, encodeJson, listenHttp, listParam, parseQuery, struct } from '../../src/server/http.js';

const quiet = createLogger('error', { write: () => true });

describe('encodeJson', () => {
  it('writes what encoding/json writes: sorted keys, HTML-safe and line-separator escapes', () => {
    // OPA answered {"result":{"b\u2028":"\u0001","ü":"é"}} for {"ü": "é", "b\u2028": "\u0001"}.
    expect(encodeJson({ ü: 'é', 'b\u2028': '\u0001' }, false)).toBe('{"b\\u2028":"\\u0001","ü":"é"}');
    expect(encodeJson({ z: 1, a: '<&>', m: [3, 2, 1] }, false)).toBe('{"a":"\\u003c\\u0026\\u003e","m":[3,2,1],"z":1}');
    // OPA answered {"1":3,"a-b":2,"if":1}: byte order, where JS would put integer-like keys first in numeric order.
    expect(encodeJson({ if: 1, 'a-b': 2, 10: 4, 9: 5, 1: 3 }, false)).toBe('{"1":3,"10":4,"9":5,"a-b":2,"if":1}');
  });

  it('sorts keys by code point, so characters beyond U+FFFF follow U+E000..U+FFFF', () => {
    expect(encodeJson({ '\u{1F600}': 1, '\uFFFD': 2 }, false)).toBe('{"\uFFFD":2,"\u{1F600}":1}');
  });

  it('keeps struct fields in their declared order and leaves out undefined ones', () => {
    expect(encodeJson(struct({ decision_id: 'x', metrics: undefined, result: { b: 1, a: 2 } }), false)).toBe('{"decision_id":"x","result":{"a":2,"b":1}}');
  });

  it('indents by two spaces with empty containers kept on one line, as json.Encoder.SetIndent', () => {
    expect(encodeJson({ a: [], b: {}, c: [1, { d: null }] }, true)).toBe('{\n  "a": [],\n  "b": {},\n  "c": [\n    1,\n    {\n      "d": null\n    }\n  ]\n}');
  });

  it('writes bigint as its digits and a lone surrogate (invalid UTF-16) as U+FFFD', () => {
    expect(encodeJson([12345678901234567890n, 'a\ud800b'], false)).toBe('[12345678901234567890,"a\ufffdb"]');
  });
});

describe('query parameters', () => {
  it('parses as Go\'s URL.Query: + is a space, pairs with ; or bad escapes (%ZZ) are dropped', () => {
    const query = parseQuery('a=1+2&a=%41&bad=%ZZ&semi=1;x=2&flag');
    expect([...query]).toEqual([
      ['a', ['1 2', 'A']],
      ['flag', ['']],
    ]);
  });

  it('reads booleans as OPA\'s getBoolParam', () => {
    const query = parseQuery('p&t=TRUE&f=1&m=false&m=true');
    expect(['p', 't', 'f', 'm', 'absent'].map((name) => boolParam(query, name))).toEqual([true, true, false, true, false]);
  });

  it('reads lists as OPA\'s getStringSliceParam (a bare name is no value)', () => {
    expect(listParam(parseQuery('x=a&x=b'), 'x')).toEqual(['a', 'b']);
    expect(listParam(parseQuery('x'), 'x')).toEqual([]);
  });
});

describe('cleanPath', () => {
  it('cleans as net/http does, keeping a trailing slash', () => {
    expect(cleanPath('/v1/data//a/./b/../c/')).toBe('/v1/data/a/c/');
    expect(cleanPath('/../x')).toBe('/x');
    expect(cleanPath('/.well-known')).toBe('/.well-known');
    expect(cleanPath('')).toBe('/');
  });
});

describe('listenHttp', () => {
  it('refuses an address in use, naming the listener', async () => {
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(listenHttp(`127.0.0.1:${port}`, () => undefined, quiet, 'REST API')).rejects.toThrow(`cannot listen on 127.0.0.1:${port} (REST API): listen EADDRINUSE`);
    } finally {
      blocker.close();
    }
  });

  it('refuses an address that is not host:port (no port)', async () => {
    await expect(listenHttp('localhost', () => undefined, quiet)).rejects.toThrow('"localhost" is not host:port');
  });

  it('lets a request in flight finish within the grace period, then closes without waiting it out', async () => {
    let pending: ServerResponse | undefined;
    const listener = await listenHttp('[::1]:0', (_req, res) => {
      pending = res;
    }, quiet);
    const answer = fetch(`http://[::1]:${listener.port}/`).then((r) => r.text());
    await waitFor(() => pending !== undefined);
    const closed = listener.close(5000);
    const started = Date.now();
    pending!.end('done');
    expect(await answer).toBe('done');
    await closed;
    // The client keeps its connection alive; close() must not wait for the 5 s grace nor the idle timeout.
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('cuts a request still running when the grace period ends', async () => {
    const listener = await listenHttp('127.0.0.1:0', () => undefined, quiet);
    const failed = new Promise<string>((resolveFailed) => {
      request({ host: '127.0.0.1', port: listener.port, path: '/' })
        .on('error', (err: NodeJS.ErrnoException) => resolveFailed(err.code ?? err.message))
        .end();
    });
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await listener.close(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(await failed).toBe('ECONNRESET');
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
}
