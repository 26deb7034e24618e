// Whole-file writes: the new content or the old, owner-only by default, and no temporary file left behind.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileExclusive, writeFileAtomic } from '../../src/files.js';

const scratch = (): string => mkdtempSync(join(tmpdir(), 'kmesh-opa-files-'));

describe('writeFileAtomic', () => {
  it('creates missing directories 0700 and the file 0600, and replaces it whole on the next write', async () => {
    const dir = scratch();
    const file = join(dir, 'a', 'b', 'state.json');
    await writeFileAtomic(file, 'first');
    await writeFileAtomic(file, Buffer.from('second'));
    expect(readFileSync(file, 'utf8')).toBe('second');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['state.json']);
  });

  it('makes a file that was readable by others owner-only when it replaces it', async () => {
    const file = join(scratch(), 'token');
    writeFileSync(file, 'old', { mode: 0o644 });
    await writeFileAtomic(file, 'new');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('removes its temporary file when the target cannot be replaced (the target is a directory)', async () => {
    const dir = scratch();
    mkdirSync(join(dir, 'taken'));
    mkdirSync(join(dir, 'taken', 'inside'));
    await expect(writeFileAtomic(join(dir, 'taken'), 'x')).rejects.toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) });
    expect(readdirSync(dir)).toEqual(['taken']);
  });
});

describe('createFileExclusive', () => {
  it('creates the file owner-only when absent, and leaves an existing one untouched (false)', async () => {
    const dir = scratch();
    const file = join(dir, 'key.pem');
    expect(await createFileExclusive(file, 'mine')).toBe(true);
    expect(await createFileExclusive(file, 'theirs')).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('mine');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['key.pem']);
  });

  it('of two concurrent creators exactly one wins', async () => {
    const file = join(scratch(), 'key.pem');
    const results = await Promise.all([createFileExclusive(file, 'one'), createFileExclusive(file, 'two')]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(readFileSync(file, 'utf8')).toBe(results[0] ? 'one' : 'two');
  });
});
