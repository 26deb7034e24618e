// OPA decision logs for kmesh-opa: one event per decision, with OPA 1.19.1's fields and rules, written
// to the console and/or uploaded to a decision log service.
//
// The check path only calls log(), which records the decision and its time in a queue. Everything
// else happens later on the event loop, in slices of a few milliseconds: building the event, the
// drop and mask policies, JSON encoding, console writes, compression (on the thread pool) and uploads.
import { STATUS_CODES } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import type { DecisionRecord } from '../authz/check.js';
import type { Logger } from '../log.js';
import type { ServiceClients } from '../services/index.js';
import { Deque, EventBuffer, SizeBuffer, type UploadBuffer } from './buffer.js';
import type { DecisionLogsConfig } from './config.js';
import { ChunkEncoder, type Chunk } from './encoder.js';
import { baseEvent, completeEvent, consoleLine, encodeEvent, uploadJson, type DecisionEvent, type EventContext, type PendingDecision } from './event.js';
import { applyMaskRules, parseMaskRules, type MaskRule } from './mask.js';
import { createDecisionLogMetrics, type DecisionLogMetrics } from './metrics.js';
import { TokenBucket } from './ratelimit.js';
import { Uploader } from './uploader.js';

export { DecisionLogsConfigError, parseDecisionLogsConfig } from './config.js';
export type { BufferType, DecisionLogsConfig, ReportingConfig, TriggerMode } from './config.js';
export type { DecisionEvent } from './event.js';
export type { DropReason } from './metrics.js';

/** A stream such as process.stderr; flush() waits for its 'drain' when a write reported a full buffer. */
export interface ConsoleSink {
  write(text: string): unknown;
  once?(event: 'drain', listener: () => void): unknown;
}

/** Evaluates a rule of the active policy (`system/log/mask`, `system/log/drop`) with the event as input. */
export type EvaluateMaskDrop = (path: string, event: object) => unknown;

export interface DecisionLogsDeps {
  /** Needed when the configuration names a service. */
  services?: ServiceClients;
  /** The event labels: id, version and the configured labels. */
  labels: Readonly<Record<string, string>>;
  logger: Logger;
  /** Registry for the dropped-events and upload counters. */
  registry: Registry;
  /** Where console events go; OPA writes them to stderr, the default. */
  console?: ConsoleSink;
  /** Without it no event is masked or dropped. */
  evaluateMaskDrop?: EvaluateMaskDrop;
  /** The decision as configured, logged as `path` (or `query` when the deprecated query is what is configured). */
  path?: string;
  query?: string;
  /** Name of the bundle the active policy came from (OPA logs `bundles: {name: {revision}}`); undefined: none. */
  bundleName?: () => string | undefined;
  /** The upload status changed (an upload failed, or succeeded after a failure). */
  onStatus?(status: DecisionLogStatus): void;
  /** Clock for event timestamps and console times (tests); the default has nanosecond resolution. */
  now?: () => Date;
}

export interface DecisionLogs {
  /** Queues one decision. Never throws and does no work beyond the queueing. */
  log(record: DecisionRecord): void;
  /** Writes and uploads everything logged so far. Resolves true when all of it was delivered in time. */
  flush(timeoutMs: number): Promise<boolean>;
  /** Stops logging and flushes what is pending (not with trigger: manual, as OPA). True when nothing was lost. */
  stop(timeoutMs: number): Promise<boolean>;
  /** OPA's decision-log status: the last upload's error (`decision_log_error`), empty after a success. */
  status(): DecisionLogStatus;
}

/** What OPA's status report shows under `decision_logs`. */
export interface DecisionLogStatus {
  code?: string;
  message?: string;
  http_code?: number;
}

// Work done per turn of the event loop before yielding to checks again.
const SLICE_MS = 2;
// Decisions waiting for the worker; beyond this the oldest are dropped rather than let memory grow.
const PENDING_LIMIT = 10000;
// Resynchronise the nanosecond clock with the wall clock when they drift apart by more than this.
const CLOCK_DRIFT_NS = 5_000_000n;

export function createDecisionLogs(config: DecisionLogsConfig, deps: DecisionLogsDeps): DecisionLogs {
  if (config.service !== undefined && !deps.services?.has(config.service)) {
    throw new Error(`decision_logs.service "${config.service}" is not a configured service`);
  }
  for (const warning of config.warnings) deps.logger.warn(`decision_logs: ${warning}`);
  const logger = new DecisionLogger(config, deps);
  deps.logger.info('Starting decision logger.', { console: config.console, ...(config.service ? { service: config.service } : {}) });
  return logger;
}

class DecisionLogger implements DecisionLogs {
  private readonly pending = new Deque<PendingDecision>();
  private readonly metrics: DecisionLogMetrics;
  private readonly context: EventContext;
  private readonly clock: Clock;
  private readonly console: ConsoleSink | undefined;
  private consoleDrained: Promise<void> | undefined;
  private readonly upload: { buffer: UploadBuffer; uploader: Uploader; limiter: TokenBucket | undefined } | undefined;
  private scheduled = false;
  private idle: Array<() => void> = [];
  private stopped = false;
  private uploadStatus: DecisionLogStatus = {};
  private stopping: Promise<boolean> | undefined;

  constructor(
    private readonly config: DecisionLogsConfig,
    private readonly deps: DecisionLogsDeps,
  ) {
    this.metrics = createDecisionLogMetrics(deps.registry);
    this.context = {
      labels: deps.labels,
      ...(deps.path ? { path: deps.path } : {}),
      ...(deps.query ? { query: deps.query } : {}),
    };
    this.clock = new Clock(deps.now);
    this.console = config.console ? (deps.console ?? process.stderr) : undefined;
    this.upload = config.service !== undefined ? this.createUpload(config.service, deps.services!) : undefined;
    this.upload?.uploader.start();
  }

  log(record: DecisionRecord): void {
    try {
      if (this.stopped) {
        this.metrics.dropped('stopped', 1);
        return;
      }
      this.pending.push({ record, timestampNs: this.clock.nowNs(), bundleName: this.deps.bundleName?.() });
      if (this.pending.length > PENDING_LIMIT) {
        this.pending.shift();
        this.metrics.dropped('queue_limit', 1);
      }
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drainSlice);
      }
    } catch {
      // Logging must never fail a check.
    }
  }

  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    if (!(await this.drained(deadline))) return false;
    const delivered = this.upload ? await this.upload.uploader.flush(deadline) : true;
    return (await this.consoleWritten(deadline)) && delivered;
  }

  stop(timeoutMs: number): Promise<boolean> {
    this.stopping ??= this.shutdown(timeoutMs);
    return this.stopping;
  }

  private async shutdown(timeoutMs: number): Promise<boolean> {
    this.deps.logger.info('Stopping decision logger.');
    const deadline = Date.now() + timeoutMs;
    this.stopped = true;
    this.upload?.uploader.stop();
    const drained = await this.drained(deadline);
    const delivered = drained && this.upload && this.config.reporting.trigger !== 'manual' ? await this.upload.uploader.flush(deadline) : drained;
    const written = await this.consoleWritten(deadline);
    const lost = this.pending.length + (this.upload?.buffer.events ?? 0);
    if (lost > 0) this.metrics.dropped('shutdown', lost);
    return delivered && written && lost === 0;
  }

  status(): DecisionLogStatus {
    return this.uploadStatus;
  }

  private setStatus(next: DecisionLogStatus): void {
    if (JSON.stringify(next) === JSON.stringify(this.uploadStatus)) return;
    this.uploadStatus = next;
    this.deps.onStatus?.(next);
  }

  private createUpload(service: string, services: ServiceClients): DecisionLogger['upload'] {
    const reporting = this.config.reporting;
    const limit = reporting.uploadSizeLimitBytes;
    const encoder = new ChunkEncoder(limit, (chars) => {
      this.deps.logger.error(`Log encoding failed: received a decision event size (${chars}) that exceeded the upload_size_limit_bytes (${limit}). No ND cache to drop.`);
    });
    const hooks = {
      onDropped: (reason: 'buffer_limit' | 'encoding_failure', events: number) => {
        this.metrics.dropped(reason, events);
        if (reason === 'buffer_limit') this.deps.logger.error(`Dropped ${events} events from buffer. Reduce reporting interval or increase buffer size.`);
      },
      onChunkReady: () => {
        if (reporting.trigger === 'immediate') uploader.kick();
      },
    };
    const buffer =
      reporting.bufferType === 'event' ? new EventBuffer(encoder, reporting.bufferSizeLimitEvents, hooks) : new SizeBuffer(encoder, reporting.bufferSizeLimitBytes, hooks);
    const send = async (chunk: Chunk, signal: AbortSignal | undefined) => {
      try {
        await sendChunk(services, service, this.config.resource, chunk, signal);
        this.setStatus({});
      } catch (err) {
        this.setStatus({ code: 'decision_log_error', message: err instanceof Error ? err.message : String(err), ...(err instanceof UploadStatusError ? { http_code: err.httpCode } : {}) });
        throw err;
      }
    };
    const uploader = new Uploader(buffer, send, reporting, this.deps.logger, this.metrics);
    const limiter = reporting.maxDecisionsPerSecond !== undefined ? new TokenBucket(reporting.maxDecisionsPerSecond) : undefined;
    return { buffer, uploader, limiter };
  }

  private readonly drainSlice = (): void => {
    const started = performance.now();
    const now = this.deps.now?.() ?? new Date();
    this.clock.resync();
    let lines = '';
    while (this.pending.length > 0 && performance.now() - started < SLICE_MS) {
      lines += this.process(this.pending.shift()!, now);
    }
    if (lines !== '') this.writeConsole(lines);
    if (this.pending.length > 0) {
      setImmediate(this.drainSlice);
      return;
    }
    this.scheduled = false;
    const waiters = this.idle;
    this.idle = [];
    for (const resolve of waiters) resolve();
  };

  /** Builds, filters, masks and hands on one event; returns its console line ('' when none). */
  private process(p: PendingDecision, now: Date): string {
    try {
      const event = baseEvent(p, this.context);
      const rules = this.maskRules(event);
      if (rules === undefined) return '';
      completeEvent(event, p.record);
      applyMaskRules(rules, event);
      const encoded = encodeEvent(event);
      if (this.upload) {
        if (this.upload.limiter && !this.upload.limiter.allow()) {
          this.metrics.dropped('rate_limit', 1);
          this.deps.logger.error('Decision log dropped as rate limit exceeded. Reduce reporting interval or increase rate limit.');
        } else {
          this.upload.buffer.push(uploadJson(encoded));
        }
      }
      return this.console ? consoleLine(encoded, now) : '';
    } catch (err) {
      this.metrics.dropped('encoding_failure', 1);
      this.deps.logger.error('Decision log event could not be encoded.', { 'decision-id': p.record.decisionId, err: (err as Error).message });
      return '';
    }
  }

  /** Runs the drop and mask policies, which see the event without metrics and error, as in OPA. Undefined: log nothing. */
  private maskRules(event: DecisionEvent): MaskRule[] | undefined {
    const evaluate = this.deps.evaluateMaskDrop;
    if (!evaluate) return [];
    try {
      if (evaluate(this.config.dropDecision, event) === true) {
        this.deps.logger.debug(`Decision log event to path ${event.path ?? event.query ?? ''} dropped`);
        return undefined;
      }
    } catch (err) {
      return this.policyFailed('Log drop decision failed', err);
    }
    try {
      const result = evaluate(this.config.maskDecision, event);
      return result === undefined ? [] : parseMaskRules(result);
    } catch (err) {
      return this.policyFailed('Log event masking failed', err);
    }
  }

  private policyFailed(what: string, err: unknown): undefined {
    this.metrics.dropped('policy_error', 1);
    this.deps.logger.error(`${what}: ${err instanceof Error ? err.message : String(err)}.`);
    return undefined;
  }

  private writeConsole(text: string): void {
    const sink = this.console!;
    try {
      if (sink.write(text) === false && sink.once && !this.consoleDrained) {
        this.consoleDrained = new Promise((resolve) => {
          sink.once!('drain', () => {
            this.consoleDrained = undefined;
            resolve();
          });
        });
      }
    } catch (err) {
      this.deps.logger.error(`Failed to log to console: ${(err as Error).message}.`);
    }
  }

  /** Resolves true once the console stream has taken all lines (pipes are written asynchronously), false at the deadline. */
  private consoleWritten(deadline: number): Promise<boolean> {
    const pending = this.consoleDrained;
    if (!pending) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      void pending.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Resolves true once every decision logged so far has been processed, false if the deadline comes first. */
  private drained(deadline: number): Promise<boolean> {
    if (!this.scheduled) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      this.idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** POSTs one chunk as OPA does; any answer but 2xx is a failure. */
async function sendChunk(services: ServiceClients, service: string, resource: string, chunk: Chunk, signal: AbortSignal | undefined): Promise<void> {
  let status: number;
  try {
    const res = await services.request(service, {
      method: 'POST',
      path: resource,
      headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
      body: chunk.body,
      ...(signal ? { signal } : {}),
    });
    status = res.status;
  } catch (err) {
    throw new Error(`log upload failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (status < 200 || status >= 300) throw new UploadStatusError(`log upload failed, server replied with HTTP ${status} ${STATUS_CODES[status] ?? ''}`, status);
}

class UploadStatusError extends Error {
  constructor(
    message: string,
    readonly httpCode: number,
  ) {
    super(message);
  }
}

/** Unix time in nanoseconds: the wall clock at start plus the monotonic clock since. */
class Clock {
  private origin = 0n;

  constructor(private readonly fixed: (() => Date) | undefined) {
    this.resync(true);
  }

  nowNs(): bigint {
    return this.fixed ? BigInt(this.fixed().getTime()) * 1_000_000n : this.origin + process.hrtime.bigint();
  }

  /** Follows wall-clock corrections (NTP) that the monotonic clock does not see. */
  resync(force = false): void {
    if (this.fixed) return;
    const wall = BigInt(Date.now()) * 1_000_000n;
    const mono = process.hrtime.bigint();
    const drift = wall - (this.origin + mono);
    if (force || drift > CLOCK_DRIFT_NS || drift < -CLOCK_DRIFT_NS) this.origin = wall - mono;
  }
}
