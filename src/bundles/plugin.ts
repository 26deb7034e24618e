// One configured bundle's life, as OPA's bundle plugin runs it: activate the persisted copy at start,
// then download, activate and persist each new revision. A bundle that fails to download or to
// activate leaves the previous one enforced; the failure shows in the log, the status and metrics.
import type { Logger } from '../log.js';
import type { ServiceClients } from '../services/client.js';
import type { BundleConfig } from './config.js';
import { BundleDownloader, BundleHttpError, BundleSizeLimitError, type DownloadResult } from './download.js';
import type { BundleFailureReason, BundleMetrics } from './metrics.js';
import { readPersistedBundle, writePersistedBundle } from './persist.js';

/** OPA's bundle status (GET /status, status reports), in camelCase. */
export interface BundleStatus {
  name: string;
  activeRevision?: string;
  lastSuccessfulDownload?: Date;
  lastSuccessfulActivation?: Date;
  lastRequest?: Date;
  lastSuccessfulRequest?: Date;
  /** `bundle_error` while the latest attempt failed. */
  code?: string;
  message?: string;
  /** The individual errors of a failure made of several. */
  errors?: string[];
  /** The HTTP status of a failed download. */
  httpCode?: number;
  /** ETag of the active bundle. */
  etag?: string;
  /** Bytes of the active bundle as downloaded. */
  size?: number;
  type: 'snapshot';
}

export interface ActivationMeta {
  name: string;
  etag?: string;
  /** True when the bytes come from the persisted copy rather than the server. */
  persisted: boolean;
}

export interface BundlePluginOptions {
  config: BundleConfig;
  services: ServiceClients;
  log: Logger;
  /** Verifies, loads and swaps in the bundle; throws to reject it (the previous one stays). */
  activate(bytes: Uint8Array, meta: ActivationMeta): Promise<{ revision: string }>;
  /** OPA's persistence_directory; defaults to the one in the configuration. */
  persistDir?: string;
  onStatus?(status: BundleStatus): void;
  metrics?: BundleMetrics;
  /** For tests: the jitter of polling delays and backoff. */
  random?: () => number;
}

export interface BundlePlugin {
  /** Activates the persisted bundle (if any), then starts downloading; does not wait for the server. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One download now: the manual trigger. Rejects with the attempt's error. */
  trigger(): Promise<void>;
  status(): BundleStatus;
  /** A bundle was activated at least once. */
  ready(): boolean;
}

const ERROR_CODE = 'bundle_error';

export function createBundlePlugin(o: BundlePluginOptions): BundlePlugin {
  return new BundleLifecycle(o);
}

class BundleLifecycle implements BundlePlugin {
  private current: BundleStatus;
  /** ETag of the last activated bundle: what If-None-Match goes back to after any failure (as OPA). */
  private activatedEtag = '';
  private activated = false;
  private readonly downloader: BundleDownloader;
  private readonly fields: Record<string, unknown>;

  constructor(private readonly o: BundlePluginOptions) {
    this.current = { name: o.config.name, type: 'snapshot' };
    this.fields = { name: o.config.name, plugin: 'bundle' };
    this.downloader = new BundleDownloader({
      config: o.config,
      services: o.services,
      log: o.log,
      onUpdate: (outcome) => this.process(outcome),
      ...(o.random ? { random: o.random } : {}),
    });
  }

  async start(): Promise<void> {
    this.o.log.info('Starting bundle loader.', this.fields);
    if (this.o.config.persist) await this.activatePersisted();
    this.downloader.start();
  }

  async stop(): Promise<void> {
    this.o.log.info('Stopping bundle loader.', this.fields);
    await this.downloader.stop();
  }

  async trigger(): Promise<void> {
    await this.downloader.trigger();
  }

  status(): BundleStatus {
    return { ...this.current, ...(this.current.errors ? { errors: [...this.current.errors] } : {}) };
  }

  ready(): boolean {
    return this.activated;
  }

  private get persistDir(): string {
    return this.o.persistDir ?? this.o.config.persistDirectory;
  }

  /** A bad or unreadable persisted copy is only logged: the server may still deliver a good bundle. */
  private async activatePersisted(): Promise<void> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readPersistedBundle(this.persistDir, this.o.config.name);
    } catch (err) {
      this.o.log.error(`Failed to load bundle from disk: ${messageOf(err)}`, this.fields);
      return;
    }
    if (!bytes) return;
    try {
      const { revision } = await this.o.activate(bytes, { name: this.o.config.name, persisted: true });
      this.markActivated(revision, new Date(), bytes.length, '');
      this.o.log.info('Bundle loaded from disk and activated successfully.', { ...this.fields, revision });
    } catch (err) {
      this.o.log.error(`Bundle activation failed: ${messageOf(err)}`, { ...this.fields, persisted: true });
      this.fail(err, 'activation');
    }
    this.publish();
  }

  /** OPA's bundle plugin `process`: one download attempt's outcome. Throws to make the downloader back off. */
  private async process(outcome: DownloadResult | { kind: 'error'; error: Error }): Promise<void> {
    const now = new Date();
    this.current.lastRequest = now;
    this.o.metrics?.request(this.o.config.name, now);
    try {
      if (outcome.kind === 'error') {
        this.o.log.error(`Bundle load failed: ${outcome.error.message}`, this.fields);
        this.fail(outcome.error, failureReason(outcome.error));
        return;
      }
      this.current.lastSuccessfulRequest = now;
      this.o.metrics?.successfulRequest(this.o.config.name, now);
      if (outcome.kind === 'unchanged') {
        this.o.log.debug('Bundle load skipped, server replied with not modified.', this.fields);
        if (outcome.etag === this.activatedEtag) this.clearError();
        return;
      }
      await this.activateDownloaded(outcome.bytes, outcome.etag, now);
    } finally {
      this.publish();
    }
  }

  private async activateDownloaded(bytes: Buffer, etag: string, downloadedAt: Date): Promise<void> {
    this.current.lastSuccessfulDownload = downloadedAt;
    this.o.metrics?.download(this.o.config.name, downloadedAt);
    let revision: string;
    try {
      ({ revision } = await this.o.activate(bytes, { name: this.o.config.name, ...(etag ? { etag } : {}), persisted: false }));
    } catch (err) {
      this.o.log.error(`Bundle activation failed: ${messageOf(err)}`, this.fields);
      this.fail(err, 'activation');
      throw err;
    }
    if (this.o.config.persist) await this.persist(bytes);
    this.markActivated(revision, new Date(), bytes.length, etag);
    this.activatedEtag = etag;
    this.o.log.info(etag ? `Bundle loaded and activated successfully. Etag updated to ${etag}.` : 'Bundle loaded and activated successfully.', {
      ...this.fields,
      revision,
    });
  }

  /** The bundle is active already; a failed write only costs the copy for the next start (OPA reports it as an error). */
  private async persist(bytes: Buffer): Promise<void> {
    try {
      await writePersistedBundle(this.persistDir, this.o.config.name, bytes);
      this.o.log.debug('Bundle persisted to disk successfully.', this.fields);
    } catch (err) {
      this.o.log.error(`Persisting bundle to disk failed: ${messageOf(err)}`, this.fields);
      this.fail(err, 'persist');
      throw err;
    }
  }

  private markActivated(revision: string, at: Date, size: number, etag: string): void {
    this.activated = true;
    this.clearError();
    this.current.activeRevision = revision;
    this.current.lastSuccessfulActivation = at;
    this.current.size = size;
    if (etag) this.current.etag = etag;
    else delete this.current.etag;
    this.o.metrics?.activated(this.o.config.name, revision, at);
  }

  private fail(err: unknown, reason: BundleFailureReason): void {
    const message = messageOf(err);
    this.current.code = ERROR_CODE;
    this.current.message = message;
    const errors = err instanceof AggregateError ? err.errors.map(messageOf) : undefined;
    if (errors) this.current.errors = errors;
    else delete this.current.errors;
    if (err instanceof BundleHttpError) this.current.httpCode = err.statusCode;
    else delete this.current.httpCode;
    // The next request asks for anything newer than the bundle still active, so a rejected bundle
    // is downloaded and tried again (a fix may keep its ETag).
    if (!this.downloader.stopped) this.downloader.etag = this.activatedEtag;
    this.o.metrics?.failed(this.o.config.name, reason, ERROR_CODE, message);
  }

  private clearError(): void {
    delete this.current.code;
    delete this.current.message;
    delete this.current.errors;
    delete this.current.httpCode;
  }

  private publish(): void {
    this.o.onStatus?.(this.status());
  }
}

function failureReason(err: Error): BundleFailureReason {
  if (err instanceof BundleHttpError) return 'http';
  if (err instanceof BundleSizeLimitError) return 'size_limit';
  return 'request';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
