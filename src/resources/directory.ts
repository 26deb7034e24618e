// The resources directory: every *.yaml, *.yml and *.json file directly inside it (subdirectories are
// not read) declares resources, and the store holds exactly what each file declares, under the
// origin `file:<absolute path>`. Changes are picked up from fs events and, as a safety net against
// missed events, from a slow re-scan.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Logger } from '../log.js';
import { ValidationError } from './types.js';
import type { ResourceStore } from './store.js';

export interface WatchOptions {
  /** Quiet time after the last event on a file before it is read (editors write in several steps). */
  debounceMs?: number;
  /** How often the whole directory is compared against what was applied. */
  rescanMs?: number;
  /** false on filesystems that send no change events (NFS, some container mounts): the re-scan alone applies changes. */
  fsEvents?: boolean;
}

export interface DirectoryWatch {
  close(): Promise<void>;
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const DEFAULT_DEBOUNCE_MS = 30;
const DEFAULT_RESCAN_MS = 2000;
/** Anchors and aliases can expand a small file into a huge value ("billion laughs"). */
const MAX_ALIAS_COUNT = 100;

/** A file that could not be read into documents; the message names the position when the parser gives one. */
class ParseError extends Error {
  override readonly name = 'ParseError';
}

/** What was last seen of a file: its stat signature (for the cheap re-scan) and the hash of the content last synced. */
interface FileState {
  signature: string;
  contentHash: string;
}

/** Loads the directory (resolving once every file is applied or refused), then keeps the store in step with it. */
export async function watchResourcesDir(dir: string, store: ResourceStore, log: Logger, opts: WatchOptions = {}): Promise<DirectoryWatch> {
  const watcher = new DirectoryWatcher(resolve(dir), store, log, opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  await watcher.scan();
  watcher.start(opts.rescanMs ?? DEFAULT_RESCAN_MS, opts.fsEvents ?? true);
  return { close: () => watcher.close() };
}

class DirectoryWatcher {
  private readonly files = new Map<string, FileState>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /** Every read-and-sync runs in turn, so two versions of a file are never applied out of order. */
  private queue: Promise<void> = Promise.resolve();
  private fsWatcher: FSWatcher | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Files the store refused: retried after any other file applies, since that may be what they lacked (a Secret, an owner gone). */
  private readonly refused = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly store: ResourceStore,
    private readonly log: Logger,
    private readonly debounceMs: number,
  ) {}

  start(rescanMs: number, fsEvents: boolean): void {
    if (fsEvents) this.watchEvents();
    this.rescanTimer = setInterval(() => void this.scan().catch((err: Error) => this.log.error('re-scanning the resources directory failed', { dir: this.dir, err: err.message })), rescanMs);
    this.rescanTimer.unref();
  }

  private watchEvents(): void {
    try {
      this.fsWatcher = watch(this.dir, (_event, filename) => this.onEvent(filename));
      this.fsWatcher.on('error', (err) => this.log.error('watching the resources directory failed; changes are picked up by the periodic re-scan', { dir: this.dir, err: err.message }));
    } catch (err) {
      this.log.error('cannot watch the resources directory; changes are picked up by the periodic re-scan', { dir: this.dir, err: (err as Error).message });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.fsWatcher?.close();
    clearInterval(this.rescanTimer);
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    await this.queue;
  }

  /** Syncs every file whose stat signature changed, and empties the origins of removed files. */
  scan(): Promise<void> {
    return this.enqueue(async () => {
      const present = new Set(await this.listFiles());
      for (const path of present) await this.refresh(path, false);
      for (const path of [...this.files.keys()]) if (!present.has(path)) await this.remove(path);
    });
  }

  private async listFiles(): Promise<string[]> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    return entries.filter((e) => (e.isFile() || e.isSymbolicLink()) && isResourceFile(e.name)).map((e) => join(this.dir, e.name));
  }

  private onEvent(filename: string | Buffer | null): void {
    if (this.closed) return;
    // Without a name the event could be about any file: re-scan them all.
    const name = filename === null ? '' : filename.toString();
    if (name !== '' && !isResourceFile(name)) return;
    const key = name === '' ? '' : join(this.dir, name);
    clearTimeout(this.pending.get(key));
    const timer = setTimeout(() => {
      this.pending.delete(key);
      if (key === '') void this.scan().catch((err: Error) => this.log.error('re-scanning the resources directory failed', { dir: this.dir, err: err.message }));
      else void this.enqueue(() => this.refresh(key, true));
    }, this.debounceMs);
    timer.unref();
    this.pending.set(key, timer);
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Reads a file and syncs it when its content changed. `force` skips the stat comparison: an fs
   * event says the file was written, and a write within the clock's resolution keeps its mtime.
   */
  private async refresh(path: string, force: boolean): Promise<void> {
    let signature: string;
    try {
      const info = await stat(path);
      if (!info.isFile()) return;
      signature = `${info.mtimeMs}:${info.size}:${info.ino}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') await this.remove(path);
      else this.log.error('cannot read a resources file', { file: path, err: (err as Error).message });
      return;
    }
    const known = this.files.get(path);
    if (!force && known?.signature === signature) return;
    let content: Buffer;
    try {
      content = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') await this.remove(path);
      else this.log.error('cannot read a resources file', { file: path, err: (err as Error).message });
      return;
    }
    const contentHash = createHash('sha256').update(content).digest('hex');
    // Recorded before the sync: a refused file is retried only when it changes or another file applies.
    this.files.set(path, { signature, contentHash });
    if (known?.contentHash === contentHash) return;
    await this.apply(path, content.toString('utf8'));
  }

  private async apply(path: string, text: string): Promise<void> {
    if (await this.sync(path, text)) await this.retryRefused();
  }

  private async retryRefused(): Promise<void> {
    let progress = true;
    while (progress && this.refused.size > 0) {
      progress = false;
      for (const path of [...this.refused]) {
        let text: string;
        try {
          text = await readFile(path, 'utf8');
        } catch (err) {
          // A deleted file whose removal was refused: what blocked it (a policy using its Secret) may be gone.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !this.files.has(path)) {
            if (await this.removeOrigin(path)) progress = true;
          } else this.refused.delete(path);
          continue;
        }
        if (await this.sync(path, text)) progress = true;
      }
    }
  }

  /** True when the store took the file's resources. */
  private async sync(path: string, text: string): Promise<boolean> {
    let documents: Parsed;
    try {
      documents = parseResources(path, text);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      this.log.error('cannot parse a resources file; its previously applied resources are kept', { file: path, err: err.message });
      this.refused.delete(path);
      return false;
    }
    try {
      await this.store.syncOrigin(origin(path), documents.values);
      this.log.info('applied a resources file', { file: path, resources: documents.values.length });
      this.refused.delete(path);
      return true;
    } catch (err) {
      this.refused.add(path);
      const fields: Record<string, unknown> = { file: path, err: (err as Error).message };
      // Violations are named by document index ([1].name); the lines say where each document starts.
      if (err instanceof ValidationError) fields.documentLines = documents.lines;
      this.log.error('a resources file was refused; its previously applied resources are kept', fields);
      return false;
    }
  }

  private async remove(path: string): Promise<void> {
    this.files.delete(path);
    if (await this.removeOrigin(path)) await this.retryRefused();
  }

  /** True when the store dropped a deleted file's resources; when refused, they stay and the removal is retried. */
  private async removeOrigin(path: string): Promise<boolean> {
    try {
      await this.store.syncOrigin(origin(path), []);
      this.refused.delete(path);
      return true;
    } catch (err) {
      this.refused.add(path);
      this.log.error('removing the resources of a deleted file was refused; they are kept until the removal is admitted', { file: path, err: (err as Error).message });
      return false;
    }
  }
}

/** Whether a directory entry declares resources (`kmesh-opa envoy-config` reads the same files as the agent). */
export function isResourceFile(name: string): boolean {
  // Dot files are editors' backups and lock files (`.#policy.yaml`), not resources.
  return !name.startsWith('.') && EXTENSIONS.has(extname(name).toLowerCase());
}

function origin(path: string): string {
  return `file:${path}`;
}

/** The file's documents (empty ones skipped) and the line (1-based) where each starts: its `---` line, or its first content line. */
interface Parsed {
  values: unknown[];
  lines: number[];
}

function parseResources(path: string, text: string): Parsed {
  return extname(path).toLowerCase() === '.json' ? parseJson(text) : parseYaml(text);
}

function parseJson(text: string): Parsed {
  try {
    return { values: [JSON.parse(text)], lines: [1] };
  } catch (err) {
    const message = (err as Error).message;
    const position = /at position (\d+)/.exec(message);
    throw new ParseError(position ? `${message} (${lineColumn(text, Number(position[1]))})` : message);
  }
}

function parseYaml(text: string): Parsed {
  const parsed: Parsed = { values: [], lines: [] };
  for (const doc of parseAllDocuments(text)) {
    const [error] = doc.errors;
    // The parser's message already ends with "at line L, column C" and the offending line.
    if (error) throw new ParseError(error.message);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      throw new ParseError(`${(err as Error).message} (document at line ${lineOf(text, doc.range[0])})`);
    }
    // An empty document (between two `---`, or a file of comments) declares nothing.
    if (value === null || value === undefined) continue;
    parsed.values.push(value);
    parsed.lines.push(lineOf(text, doc.range[0]));
  }
  return parsed;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

function lineColumn(text: string, offset: number): string {
  const line = lineOf(text, offset);
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  return `line ${line}, column ${offset - lineStart + 1}`;
}
