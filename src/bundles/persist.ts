// The last activated bundle of each `persist: true` bundle, kept on disk where OPA keeps it
// (`<persistence_directory>/bundles/<name>/bundle.tar.gz`), so that a restart enforces policy
// before the bundle server answers.
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { writeFileAtomic } from '../files.js';

/**
 * Bundle names come from configuration that may be discovered from a remote server: a name such as
 * `../../x` would otherwise write outside the persistence directory.
 */
export function persistedBundlePath(persistDir: string, name: string): string {
  const root = join(persistDir, 'bundles');
  const target = join(root, name, 'bundle.tar.gz');
  const rel = relative(root, target);
  if (rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new Error(`bundle name ${JSON.stringify(name)} leads outside the persistence directory`);
  return target;
}

/**
 * Writes the bundle atomically: a reader (or a crash) sees the old file or the new one, never a mix.
 * A bundle is policy, not a secret: file and directories keep Node's defaults, left to the umask.
 */
export async function writePersistedBundle(persistDir: string, name: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(persistedBundlePath(persistDir, name), bytes, { mode: 0o666, dirMode: 0o777 });
}

/** The persisted bundle, or undefined when none was written yet. */
export async function readPersistedBundle(persistDir: string, name: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(persistedBundlePath(persistDir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
