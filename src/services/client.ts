// HTTP clients for configured services, on undici. A request is built as OPA's REST client builds it:
// User-Agent first, then the service's configured headers (which may replace it), then the request's
// own headers added alongside, then the credentials.
import { Buffer } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import type { Agent, Dispatcher } from 'undici';

// undici is loaded on the first request: most agents configure no service, and it is the largest
// module the agent would otherwise hold in memory (about 20 MB of RSS).
let undiciModule: Promise<typeof import('undici')> | undefined;
const undici = () => (undiciModule ??= import('undici'));
import type { Logger } from '../log.js';
import type { ClientTlsCredentials, ServiceConfig } from './config.js';

const GOOS: Partial<Record<NodeJS.Platform, string>> = { win32: 'windows' };
const GOARCH: Record<string, string> = { x64: 'amd64', ia32: '386' };
/** OPA 1.19.1's User-Agent, so that services which key on it see what they would see from OPA. */
export const OPA_USER_AGENT = `Open-Policy-Agent/1.19.1 (${GOOS[process.platform] ?? process.platform}, ${GOARCH[process.arch] ?? process.arch})`;

// Go's http.Client follows up to 10 redirects; undici's redirect handler, like Go, drops
// Authorization when the redirect leaves the origin.
const MAX_REDIRECTIONS = 10;

export interface ServiceRequest {
  method: string;
  /** Path under the service URL; leading and trailing slashes are trimmed, as OPA does. */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  signal?: AbortSignal;
  /**
   * Added to the service's response_header_timeout_seconds for this request: a long poll's wait,
   * during which the server rightly holds back its headers. A timeout of 0 stays 0 (forever).
   */
  headersTimeoutExtensionMs?: number;
  /** The response body is read up to this many bytes; more aborts the request with BodyLimitError. */
  maxBodyBytes?: number;
}

export interface ServiceResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface ServiceClients {
  /** Service names in configuration order. */
  readonly names: readonly string[];
  has(name: string): boolean;
  /** Sends one request and reads the whole response. Rejects on network, timeout, abort or credential-file errors. */
  request(name: string, req: ServiceRequest): Promise<ServiceResponse>;
  /** Closes every connection; requests after this fail. */
  close(): Promise<void>;
}

export interface ServiceClientOptions {
  userAgent?: string;
  /** Warned at creation about keys OPA would ignore and deprecated settings. */
  logger?: Logger;
}

export class UnknownServiceError extends Error {
  override readonly name = 'UnknownServiceError';
}

export class BodyLimitError extends Error {
  override readonly name = 'BodyLimitError';
  constructor(readonly limitBytes: number) {
    super(`response body exceeds the limit of ${limitBytes} bytes`);
  }
}

export function createServiceClients(services: readonly ServiceConfig[], options: ServiceClientOptions = {}): ServiceClients {
  const userAgent = options.userAgent ?? OPA_USER_AGENT;
  const clients = new Map(services.map((s) => [s.name, new ServiceClient(s, userAgent)]));
  for (const s of services) warnAboutConfig(s, options.logger);
  return {
    names: services.map((s) => s.name),
    has: (name) => clients.has(name),
    request(name, req) {
      const client = clients.get(name);
      if (!client) return Promise.reject(new UnknownServiceError(`no service named "${name}" is configured`));
      return client.request(req);
    },
    async close() {
      await Promise.all([...clients.values()].map((c) => c.close()));
    },
  };
}

function warnAboutConfig(s: ServiceConfig, logger: Logger | undefined): void {
  if (!logger) return;
  if (s.ignoredKeys.length > 0) logger.warn('unknown service configuration keys ignored', { service: s.name, keys: s.ignoredKeys });
  if (s.credentials?.kind === 'client_tls' && s.credentials.caCert && !s.tls) {
    logger.warn("Deprecated 'services[_].credentials.client_tls.ca_cert' configuration specified. Use 'services[_].tls.ca_cert' instead.", { service: s.name });
  }
}

interface ClientCertificate {
  cert: Buffer;
  key: Buffer;
}

class ServiceClient {
  private dispatcher: { base: Agent; composed: Dispatcher } | undefined;
  private certificate: ClientCertificate | undefined;
  private refreshing: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly config: ServiceConfig,
    private readonly userAgent: string,
  ) {}

  async request(req: ServiceRequest): Promise<ServiceResponse> {
    if (this.closed) throw new Error(`service "${this.config.name}" is closed`);
    const headers = await this.headers(req.headers);
    // Last before sending: a rebuild for a new certificate closes the previous pool.
    const dispatcher = await this.currentDispatcher();
    const url = `${this.config.url}/${req.path.replace(/^\/+|\/+$/g, '')}`;
    const res = await (await undici()).request(url, {
      method: req.method as Dispatcher.HttpMethod,
      headers,
      dispatcher,
      ...(req.body !== undefined ? { body: req.body } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.headersTimeoutExtensionMs ? { headersTimeout: this.extendedHeadersTimeout(req.headersTimeoutExtensionMs) } : {}),
    });
    const body = req.maxBodyBytes === undefined ? Buffer.from(await res.body.arrayBuffer()) : await readLimited(res.body, req.maxBodyBytes);
    return { status: res.statusCode, headers: res.headers, body };
  }

  private extendedHeadersTimeout(extensionMs: number): number {
    const base = this.config.responseHeaderTimeoutSeconds * 1000;
    return base === 0 ? 0 : base + extensionMs;
  }

  async close(): Promise<void> {
    this.closed = true;
    const d = this.dispatcher;
    this.dispatcher = undefined;
    if (d) await d.base.close();
  }

  private async headers(extra: Record<string, string> | undefined): Promise<Record<string, string | string[]>> {
    const out: Record<string, string | string[]> = { 'user-agent': this.userAgent };
    for (const [k, v] of Object.entries(this.config.headers)) out[k.toLowerCase()] = v;
    // As OPA's client.WithHeader: an empty value adds nothing.
    for (const [k, v] of Object.entries(extra ?? {})) if (v !== '') addHeader(out, k.toLowerCase(), v);
    const creds = this.config.credentials;
    if (creds?.kind === 'bearer') {
      const token = creds.tokenPath ? (await readFile(creds.tokenPath, 'utf8')).trim() : (creds.token ?? '');
      addHeader(out, 'authorization', `${creds.scheme} ${token}`);
    }
    return out;
  }

  /** The connection pool; one refresh at a time, so that concurrent first requests share one pool. */
  private currentDispatcher(): Promise<Dispatcher> {
    const next = this.refreshing.then(() => this.refreshDispatcher());
    this.refreshing = next.catch(() => undefined);
    return next;
  }

  /** Rebuilds the pool when the client certificate files changed, so new connections present the new one. */
  private async refreshDispatcher(): Promise<Dispatcher> {
    const creds = this.config.credentials;
    const certificate = creds?.kind === 'client_tls' ? await readClientCertificate(creds) : undefined;
    if (this.closed) throw new Error(`service "${this.config.name}" is closed`);
    if (this.dispatcher && sameCertificate(certificate, this.certificate)) return this.dispatcher.composed;
    const previous = this.dispatcher;
    const { Agent, interceptors } = await undici();
    const base = new Agent({
      // undici's 0 disables the timeout, as OPA's 0 does.
      headersTimeout: this.config.responseHeaderTimeoutSeconds * 1000,
      connect: await this.tlsOptions(certificate),
    });
    this.dispatcher = { base, composed: base.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS })) };
    this.certificate = certificate;
    if (previous) void previous.base.close().catch(() => undefined);
    return this.dispatcher.composed;
  }

  private async tlsOptions(certificate: ClientCertificate | undefined): Promise<Record<string, unknown>> {
    const c = this.config;
    const creds = c.credentials?.kind === 'client_tls' ? c.credentials : undefined;
    const caSource = c.tls ?? (creds?.caCert ? { caCert: creds.caCert, systemCaRequired: creds.systemCaRequired } : undefined);
    const options: Record<string, unknown> = {};
    if (caSource) {
      const pem = await readFile(caSource.caCert, 'utf8');
      options.ca = caSource.systemCaRequired ? [...rootCertificates, pem] : [pem];
    }
    if (c.allowInsecureTls) options.rejectUnauthorized = false;
    if (certificate) {
      options.cert = certificate.cert;
      options.key = certificate.key;
      if (creds?.privateKeyPassphrase) options.passphrase = creds.privateKeyPassphrase;
    }
    return options;
  }
}

/** Reads chunks as they arrive and stops at the limit, so an oversized body is never held whole. */
async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      body.destroy();
      throw new BodyLimitError(limit);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

function addHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  const current = headers[name];
  if (current === undefined) headers[name] = value;
  else headers[name] = Array.isArray(current) ? [...current, value] : [current, value];
}

async function readClientCertificate(creds: ClientTlsCredentials): Promise<ClientCertificate> {
  const [cert, key] = await Promise.all([readFile(creds.cert), readFile(creds.privateKey)]);
  return { cert, key };
}

function sameCertificate(a: ClientCertificate | undefined, b: ClientCertificate | undefined): boolean {
  if (!a || !b) return a === b;
  return a.cert.equals(b.cert) && a.key.equals(b.key);
}
