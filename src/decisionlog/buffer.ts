// Where events wait for the next upload, with OPA's two policies for a full buffer (oldest go first):
// - size (default): events are compressed into chunks as they come; chunks are kept up to
//   buffer_size_limit_bytes of compressed data (0: no limit).
// - event: events are kept as JSON up to buffer_size_limit_events items and compressed at upload;
//   a chunk that failed to upload comes back as one item, as in OPA.
// Chunks that failed to upload go back in front, so that the order of events survives a retry.
import { ChunkEncoder, type Chunk } from './encoder.js';

export type DropReason = 'buffer_limit' | 'encoding_failure';

export interface UploadBuffer {
  /** Adds one encoded event. */
  push(json: string): void;
  /** Everything buffered so far as upload chunks in order; the buffer is then empty. */
  take(): Promise<Chunk[]>;
  /** Puts chunks that were not delivered back in front, dropping the oldest beyond the limit. */
  requeue(chunks: readonly Chunk[]): void;
  /** Events waiting, including those still being compressed. */
  readonly events: number;
}

export interface BufferHooks {
  onDropped(reason: DropReason, events: number): void;
  /** A full chunk is ready (the `immediate` trigger uploads it at once). */
  onChunkReady(): void;
}

export class SizeBuffer implements UploadBuffer {
  private chunks = new Deque<Chunk>();
  private usage = 0;
  private buffered = 0;
  private compressing = 0;
  private sealed: Promise<void> = Promise.resolve();

  constructor(
    private readonly encoder: ChunkEncoder,
    /** Bytes of compressed chunks kept; 0: no limit. */
    private readonly limitBytes: number,
    private readonly hooks: BufferHooks,
  ) {}

  get events(): number {
    return this.buffered + this.compressing;
  }

  push(json: string): void {
    this.compressing++;
    const full = this.encoder.add(json);
    if (full) this.seal(full, true);
  }

  async take(): Promise<Chunk[]> {
    const open = this.encoder.take();
    if (open.length > 0) this.seal(open, false);
    await this.sealed;
    const chunks = this.chunks.drain();
    this.usage = 0;
    this.buffered = 0;
    return chunks;
  }

  requeue(chunks: readonly Chunk[]): void {
    const rest = this.chunks.drain();
    this.usage = 0;
    this.buffered = 0;
    for (const c of [...chunks, ...rest]) this.store(c);
  }

  /** Compresses a batch after the batches before it, so that chunks are stored in order. */
  private seal(batch: string[], full: boolean): void {
    this.sealed = this.sealed.then(async () => {
      const chunks = await compressBatch(this.encoder, batch, this.hooks);
      this.compressing -= batch.length;
      for (const c of chunks) this.store(c);
      if (full && chunks.length > 0) this.hooks.onChunkReady();
    });
  }

  private store(chunk: Chunk): void {
    const size = chunk.body.length;
    if (this.limitBytes > 0) {
      if (size > this.limitBytes) {
        this.hooks.onDropped('buffer_limit', chunk.events);
        return;
      }
      while (this.usage + size > this.limitBytes) this.evictOldest();
    }
    this.chunks.push(chunk);
    this.usage += size;
    this.buffered += chunk.events;
  }

  private evictOldest(): void {
    const oldest = this.chunks.shift();
    if (!oldest) return;
    this.usage -= oldest.body.length;
    this.buffered -= oldest.events;
    this.hooks.onDropped('buffer_limit', oldest.events);
  }
}

type EventItem = string | Chunk;

export class EventBuffer implements UploadBuffer {
  private items = new Deque<EventItem>();
  private buffered = 0;
  private openChars = 0;

  constructor(
    private readonly encoder: ChunkEncoder,
    /** Items kept: events, or chunks that came back from a failed upload. */
    private readonly limitItems: number,
    private readonly hooks: BufferHooks,
  ) {}

  get events(): number {
    return this.buffered;
  }

  push(json: string): void {
    this.add(json);
    this.openChars += json.length + 1;
    if (this.openChars >= this.encoder.target) {
      this.openChars = 0;
      this.hooks.onChunkReady();
    }
  }

  async take(): Promise<Chunk[]> {
    const items = this.items.drain();
    this.buffered = 0;
    this.openChars = 0;
    const chunks: Chunk[] = [];
    const compress = async (batch: string[]): Promise<void> => {
      chunks.push(...(await compressBatch(this.encoder, batch, this.hooks)));
    };
    for (const item of items) {
      if (typeof item === 'string') {
        const full = this.encoder.add(item);
        if (full) await compress(full);
      } else {
        await compress(this.encoder.take());
        chunks.push(item);
      }
    }
    await compress(this.encoder.take());
    return chunks;
  }

  requeue(chunks: readonly Chunk[]): void {
    const rest = this.items.drain();
    this.buffered = 0;
    for (const item of [...chunks, ...rest]) this.add(item);
  }

  private add(item: EventItem): void {
    this.items.push(item);
    this.buffered += itemEvents(item);
    while (this.items.length > this.limitItems) {
      const oldest = this.items.shift()!;
      this.buffered -= itemEvents(oldest);
      this.hooks.onDropped('buffer_limit', itemEvents(oldest));
    }
  }
}

/** Never rejects: events that cannot be compressed (or fit no chunk) are counted as dropped. */
async function compressBatch(encoder: ChunkEncoder, batch: readonly string[], hooks: BufferHooks): Promise<Chunk[]> {
  let chunks: Chunk[] = [];
  try {
    chunks = await encoder.compress(batch);
  } catch {
    chunks = [];
  }
  const stored = chunks.reduce((n, c) => n + c.events, 0);
  if (stored < batch.length) hooks.onDropped('encoding_failure', batch.length - stored);
  return chunks;
}

function itemEvents(item: EventItem): number {
  return typeof item === 'string' ? 1 : item.events;
}

/** A FIFO queue with O(1) shift. */
export class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head * 2 >= this.items.length) this.compact();
    return item;
  }

  /** All items in order; the queue is then empty. */
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }

  private compact(): void {
    this.items = this.items.slice(this.head);
    this.head = 0;
  }
}
