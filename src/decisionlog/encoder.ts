// Events into upload bodies: gzipped JSON arrays no larger than upload_size_limit_bytes, events in
// order. Batches are cut by uncompressed size against a target learned from the compression ratio
// seen so far (OPA adapts an uncompressed limit the same way); a batch that still compresses past the
// limit is split in two until it fits, and a single event that cannot fit is dropped, as in OPA.
// Compression runs on libuv's thread pool, off the event loop.
import type { Buffer } from 'node:buffer';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/** One upload body: a gzipped JSON array of `events` events. */
export interface Chunk {
  body: Buffer;
  events: number;
}

// Fill batches to 90% of the limit once the ratio is known (OPA's threshold as well), and never
// hold more than this many limits of uncompressed text in one batch.
const FILL_RATIO = 0.9;
const MAX_TARGET_FACTOR = 64;
const BRACKETS = 2;

export class ChunkEncoder {
  private batch: string[] = [];
  private batchChars = BRACKETS;
  private targetChars: number;

  constructor(
    private readonly limit: number,
    /** Called for an event that alone compresses past the limit (it is dropped). */
    private readonly onTooLarge: (eventChars: number, compressedBytes: number) => void,
  ) {
    this.targetChars = limit;
  }

  /** Uncompressed size at which a batch is cut. */
  get target(): number {
    return this.targetChars;
  }

  /** Adds an encoded event; returns the batch before it when the event would take that batch past the target. */
  add(json: string): string[] | undefined {
    const full = this.batch.length > 0 && this.batchChars + json.length + 1 > this.targetChars ? this.take() : undefined;
    this.batch.push(json);
    this.batchChars += json.length + 1;
    return full;
  }

  /** The open batch, which is then empty. */
  take(): string[] {
    const batch = this.batch;
    this.batch = [];
    this.batchChars = BRACKETS;
    return batch;
  }

  /** Compresses a batch into chunks within the limit, in order. */
  async compress(events: readonly string[]): Promise<Chunk[]> {
    if (events.length === 0) return [];
    const raw = `[${events.join(',')}]`;
    const body = await gzipAsync(raw);
    this.learn(raw.length, body.length);
    if (body.length <= this.limit) return [{ body, events: events.length }];
    if (events.length === 1) {
      this.onTooLarge(raw.length, body.length);
      return [];
    }
    const half = Math.ceil(events.length / 2);
    const head = await this.compress(events.slice(0, half));
    const tail = await this.compress(events.slice(half));
    return [...head, ...tail];
  }

  private learn(rawChars: number, compressedBytes: number): void {
    const target = Math.floor((this.limit * FILL_RATIO * rawChars) / compressedBytes);
    this.targetChars = Math.max(1, Math.min(this.limit * MAX_TARGET_FACTOR, target));
  }
}
