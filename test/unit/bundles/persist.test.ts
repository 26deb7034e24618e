// Persisted bundles live where OPA keeps them and are replaced atomically.
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { persistedBundlePath, readPersistedBundle, writePersistedBundle } from '../../../src/bundles/persist.js';

describe('persisted bundles', () => {
  it('writes <dir>/bundles/<name>/bundle.tar.gz, replaces it whole and leaves no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-persist-'));
    expect(persistedBundlePath(dir, 'authz')).toBe(join(dir, 'bundles', 'authz', 'bundle.tar.gz'));
    expect(await readPersistedBundle(dir, 'authz')).toBeUndefined();
    await writePersistedBundle(dir, 'authz', Buffer.from('first'));
    await writePersistedBundle(dir, 'authz', Buffer.from('second'));
    expect(Buffer.from((await readPersistedBundle(dir, 'authz'))!).toString()).toBe('second');
    expect(readdirSync(join(dir, 'bundles', 'authz'))).toEqual(['bundle.tar.gz']);
  });

  it('keeps a bundle name with slashes (a/b) as nested directories, as OPA does on Linux', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-persist-'));
    await writePersistedBundle(dir, 'team/authz', Buffer.from('x'));
    expect(readdirSync(join(dir, 'bundles', 'team', 'authz'))).toEqual(['bundle.tar.gz']);
  });

  it('refuses a bundle name that climbs out of the persistence directory (../../escaped) and writes nothing there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-persist-'));
    const inner = join(dir, 'inner');
    await expect(writePersistedBundle(inner, '../../escaped', Buffer.from('x'))).rejects.toThrow(/outside the persistence directory/);
    expect(readdirSync(dir)).toEqual([]);
    // A name that merely starts with dots stays inside.
    expect(persistedBundlePath(dir, '..authz')).toBe(join(dir, 'bundles', '..authz', 'bundle.tar.gz'));
  });

  it('reports an unreadable location (bundle.tar.gz is a directory) instead of treating it as absent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-persist-'));
    mkdirSync(persistedBundlePath(dir, 'a'), { recursive: true });
    await expect(readPersistedBundle(dir, 'a')).rejects.toThrow(/EISDIR/);
  });
});
