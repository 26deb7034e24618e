// OPA's bundle downloader protocol, so any OPA bundle server can feed the agent: GET the resource
// with the last ETag in If-None-Match (304: nothing new), poll again after a random delay in
// [min_delay, max_delay], back off exponentially after failures, and long poll (`Prefer: wait=N`)
// while the server answers with OPA's bundle content type.
import { STATUS_CODES } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs } from '../decisionlog/uploader.js';
import { BundleTooLargeError, unpackBundleFiles } from '../engine/bundle.js';
import type { Logger } from '../log.js';
import { BodyLimitError, type ServiceClients, type ServiceResponse } from '../services/client.js';
import type { BundleConfig } from './config.js';

/** Servers answering with this content type support long polling (OPA's rule). */
export const LONG_POLL_CONTENT_TYPE = 'application/vnd.openpolicyagent.bundles';
const EXPECTED_CONTENT_TYPES = new Set(['application/gzip', 'application/octet-stream', LONG_POLL_CONTENT_TYPE]);

// Go's http.StatusText where Node's table words it differently: OPA's messages quote Go's.
const GO_STATUS_TEXT: Readonly<Record<number, string>> = {
  413: 'Request Entity Too Large',
  414: 'Request URI Too Long',
  416: 'Requested Range Not Satisfiable',
  418: "I'm a teapot",
};

/** The server answered with a status other than 200 or 304. */
export class BundleHttpError extends Error {
  override readonly name = 'BundleHttpError';
  constructor(readonly statusCode: number) {
    super(`server replied with ${GO_STATUS_TEXT[statusCode] ?? STATUS_CODES[statusCode] ?? ''}`);
  }
}

export class BundleSizeLimitError extends Error {
  override readonly name = 'BundleSizeLimitError';
  constructor(readonly limitBytes: number) {
    super(`bundle exceeds size limit: more than ${limitBytes} bytes (size_limit_bytes)`);
  }
}

/** A request that got no usable answer: network, timeout, abort. */
export class BundleRequestError extends Error {
  override readonly name = 'BundleRequestError';
}

export type DownloadResult =
  | { kind: 'bundle'; bytes: Buffer; etag: string; contentType: string; size: number }
  | { kind: 'unchanged'; etag: string };

/** What the owner hears after every attempt; throwing from it counts the attempt as failed (backoff). */
export type DownloadCallback = (outcome: DownloadResult | { kind: 'error'; error: Error }) => Promise<void>;

export interface BundleDownloaderOptions {
  config: BundleConfig;
  services: ServiceClients;
  log: Logger;
  onUpdate: DownloadCallback;
  random?: () => number;
}

export class BundleDownloader {
  /** The ETag sent in If-None-Match; the owner resets it to the last activated bundle's after a failure. */
  etag = '';
  /** The next request long polls: a timeout is configured and the last answer came from a long-polling server. */
  private longPolling: boolean;
  private readonly random: () => number;
  private readonly abort = new AbortController();
  private loopDone: Promise<void> | undefined;

  constructor(private readonly o: BundleDownloaderOptions) {
    this.longPolling = o.config.polling.longPollingTimeoutSeconds !== undefined;
    this.random = o.random ?? Math.random;
  }

  /** Starts the polling loop (periodic trigger only); the first download starts at once. */
  start(): void {
    if (this.o.config.trigger === 'periodic') this.loopDone ??= this.loop();
  }

  /** One download now (the manual trigger); rejects with the attempt's error. */
  trigger(): Promise<void> {
    return this.oneShot();
  }

  /** Aborts the request in flight and the wait, and resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loopDone;
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async loop(): Promise<void> {
    let retries = 0;
    while (!this.stopped) {
      let failed = false;
      try {
        await this.oneShot();
      } catch {
        failed = true; // reported through onUpdate; only the schedule changes here
      }
      if (this.stopped) return;
      const delay = this.nextDelayMs(failed, retries);
      this.o.log.debug(`Waiting ${delay}ms before next download/retry.`, { name: this.o.config.name });
      try {
        await sleep(delay, undefined, { signal: this.abort.signal });
      } catch {
        return;
      }
      retries = failed ? retries + 1 : 0;
    }
  }

  /** OPA: back off after a failure; after a success long poll again at once, or wait in [min, max]. */
  private nextDelayMs(failed: boolean, retries: number): number {
    const { minDelaySeconds: min, maxDelaySeconds: max } = this.o.config.polling;
    if (failed) return backoffMs(retries, max * 1000, this.random);
    if (this.longPolling) return 0;
    return ((max - min) * this.random() + min) * 1000;
  }

  private async oneShot(): Promise<void> {
    let result: DownloadResult;
    try {
      result = await this.download();
    } catch (err) {
      this.etag = '';
      const error = err instanceof Error ? err : new Error(String(err));
      await this.o.onUpdate({ kind: 'error', error });
      throw error;
    }
    this.etag = result.etag;
    await this.o.onUpdate(result);
  }

  private async download(): Promise<DownloadResult> {
    const { config } = this.o;
    const longPoll = this.longPolling;
    let res: ServiceResponse;
    try {
      res = await this.o.services.request(config.service, {
        method: 'GET',
        path: config.resource,
        headers: { 'If-None-Match': this.etag, Prefer: this.preferHeader(longPoll) },
        signal: this.abort.signal,
        maxBodyBytes: config.sizeLimitBytes,
        ...(longPoll ? { headersTimeoutExtensionMs: config.polling.longPollingTimeoutSeconds! * 1000 } : {}),
      });
    } catch (err) {
      if (err instanceof BodyLimitError) throw new BundleSizeLimitError(config.sizeLimitBytes);
      throw new BundleRequestError(`request failed: ${describeRequestError(err)}`);
    }
    const etag = header(res, 'etag');
    if (res.status === 304) return { kind: 'unchanged', etag: etag || this.etag };
    if (res.status !== 200) throw new BundleHttpError(res.status);
    const contentType = header(res, 'content-type');
    // A server may switch content types between answers: the latest answer decides the next request.
    // Without a configured timeout there is no long poll, whatever the server says (else the loop
    // would ask again at once, forever).
    this.longPolling = config.polling.longPollingTimeoutSeconds !== undefined && contentType === LONG_POLL_CONTENT_TYPE;
    if (!EXPECTED_CONTENT_TYPES.has(contentType) && this.o.log.enabled('debug')) {
      this.o.log.debug(`Content-Type response header set to ${contentType}. Possibly not a bundle being downloaded.`, { name: config.name });
    }
    return { kind: 'bundle', bytes: res.body, etag, contentType, size: res.body.length };
  }

  /** kmesh-opa applies snapshot bundles only, so it does not offer delta mode as OPA does. */
  private preferHeader(longPoll: boolean): string {
    const prefs = ['modes=snapshot'];
    if (longPoll) prefs.push(`wait=${this.o.config.polling.longPollingTimeoutSeconds}`);
    return prefs.join(';');
  }
}

function header(res: ServiceResponse, name: string): string {
  const v = res.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

function describeRequestError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

/**
 * A downloaded bundle's files. size_limit_bytes bounds what the bundle unpacks to as well as what is
 * downloaded, so a small gzip cannot expand without limit.
 */
export function unpackBundle(bytes: Uint8Array, name: string, sizeLimitBytes: number): Map<string, Uint8Array> {
  try {
    return unpackBundleFiles(bytes, sizeLimitBytes);
  } catch (err) {
    if (err instanceof BundleTooLargeError) throw new Error(`bundle ${name} unpacks to more than size_limit_bytes (${sizeLimitBytes})`);
    // The gzip or tar reader's own words, as OPA shows the Go reader's.
    const reason = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    throw new Error(`bundle ${name}: not a gzipped tarball: ${reason instanceof Error ? reason.message : String(reason)}`);
  }
}
