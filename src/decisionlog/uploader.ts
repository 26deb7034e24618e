// The upload loop of OPA's decision logger: upload everything buffered, then wait a random time in
// [min_delay, max_delay]; after a failure wait an exponentially growing, jittered delay instead
// (100 ms x 1.6^n, +-20%, at most max_delay; the first retry is immediate). One upload at a time.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import type { UploadBuffer } from './buffer.js';
import type { ReportingConfig } from './config.js';
import type { Chunk } from './encoder.js';
import type { DecisionLogMetrics } from './metrics.js';

const RETRY_BASE_MS = 100;
const RETRY_FACTOR = 1.6;
const RETRY_JITTER = 0.2;
// OPA's shutdown flush waits this long between attempts.
const FLUSH_RETRY_MS = 1000;

export type SendChunk = (chunk: Chunk, signal: AbortSignal | undefined) => Promise<void>;

/** Go's util.DefaultBackoff, in milliseconds. */
export function backoffMs(retries: number, maxMs: number, random: () => number = Math.random): number {
  if (retries === 0) return 0;
  let delay = RETRY_BASE_MS;
  for (let n = retries; delay < maxMs && n > 0; n--) delay *= RETRY_FACTOR;
  delay = Math.min(delay, maxMs);
  return Math.max(0, delay * (1 + RETRY_JITTER * (random() * 2 - 1)));
}

const EMPTY = Symbol('empty');
const DONE = Symbol('done');
type Outcome = typeof EMPTY | typeof DONE | Error;

export class Uploader {
  private timer: NodeJS.Timeout | undefined;
  private retries = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly buffer: UploadBuffer,
    private readonly send: SendChunk,
    private readonly reporting: ReportingConfig,
    private readonly logger: Logger,
    private readonly metrics: DecisionLogMetrics,
  ) {}

  /** Starts the periodic loop (not in manual mode), with an upload right away as OPA does. */
  start(): void {
    if (this.reporting.trigger !== 'manual') this.schedule(0);
  }

  /** Uploads what is buffered now, outside the loop's schedule (the immediate trigger). */
  kick(): void {
    if (!this.stopped) void this.exclusive(() => this.uploadOnce(undefined));
  }

  /** Ends the loop; an upload in progress finishes. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Uploads everything buffered, retrying failures every second, until it is delivered or the
   * deadline (epoch ms) passes. True when delivered.
   */
  async flush(deadline: number): Promise<boolean> {
    this.logger.info('Flushing decision logs.');
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const signal = AbortSignal.timeout(remaining);
      const outcome = await beforeDeadline(
        this.exclusive(() => this.uploadOnce(signal)),
        deadline,
      );
      if (outcome === EMPTY || outcome === DONE) {
        this.logger.info('All decisions in buffer uploaded.');
        return true;
      }
      const wait = Math.min(FLUSH_RETRY_MS, deadline - Date.now());
      if (wait > 0) await sleep(wait);
    }
    this.logger.error('Plugin stopped with decisions possibly still in buffer.');
    return false;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    const outcome = await this.exclusive(() => this.uploadOnce(undefined));
    if (this.stopped) return;
    if (outcome instanceof Error) {
      this.schedule(backoffMs(this.retries++, this.reporting.maxDelaySeconds * 1000));
    } else {
      this.retries = 0;
      const { minDelaySeconds: min, maxDelaySeconds: max } = this.reporting;
      this.schedule((min + (max - min) * Math.random()) * 1000);
    }
  }

  /** Runs uploads one after another. */
  private exclusive(fn: () => Promise<Outcome>): Promise<Outcome> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Sends every buffered chunk in order; at the first failure, it and the rest go back to the buffer. */
  private async uploadOnce(signal: AbortSignal | undefined): Promise<Outcome> {
    const chunks = await this.buffer.take();
    if (chunks.length === 0) {
      this.logger.debug('Log upload queue was empty.');
      return EMPTY;
    }
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      try {
        await this.send(chunk, signal);
        this.metrics.uploaded(chunk.events);
      } catch (err) {
        this.buffer.requeue(chunks.slice(i));
        this.metrics.uploadFailed();
        const error = err instanceof Error ? err : new Error(String(err));
        this.logger.error(`${error.message}.`);
        return error;
      }
    }
    this.logger.info('Logs uploaded successfully.');
    return DONE;
  }
}

const TIMED_OUT = new Error('deadline passed');

function beforeDeadline(work: Promise<Outcome>, deadline: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
