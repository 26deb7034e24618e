// Whole-file writes for the agent's state (keys, tokens, persisted resources and bundles, the client's
// config): a reader or a crash sees the old file or the new one, never half of one, and a file holding
// secrets is owner-only from its first byte.
import { randomBytes } from 'node:crypto';
import { link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** Mode of the new file (the umask still applies). */
  mode?: number;
  /** Mode of the directories created on the way to it. */
  dirMode?: number;
}

/** Replaces `path` by a rename of a complete temporary file beside it, creating its directory if needed. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, { mode = 0o600, dirMode = 0o700 }: AtomicWriteOptions = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: dirMode });
  const temp = await writeTemp(path, data, mode);
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * Creates `path` holding `data` unless it exists (false then), without ever showing a partial file:
 * the data is hard-linked into place from a complete temporary file, and the link fails if `path` exists.
 */
export async function createFileExclusive(path: string, data: string | Uint8Array, mode = 0o600): Promise<boolean> {
  const temp = await writeTemp(path, data, mode);
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * A new file beside `path` (same directory, so the rename or link stays on one filesystem). It is
 * created exclusively: an existing file would keep its own mode, and one this call did not create is
 * never removed.
 */
async function writeTemp(path: string, data: string | Uint8Array, mode: number): Promise<string> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, data, { mode, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await rm(temp, { force: true });
    throw err;
  }
  return temp;
}
