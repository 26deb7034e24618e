// The resources directory: files are loaded before the watch resolves, edits apply without a
// restart, a bad edit keeps what the file had, a removed file takes its resources with it.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../../src/log.js';
import { watchResourcesDir, type DirectoryWatch } from '../../../src/resources/directory.js';
import { ConflictError, ResourceStore, type Admit, type KindDef } from '../../../src/resources/store.js';
import { RESOURCE_KINDS, type FieldViolation, type Resource } from '../../../src/resources/types.js';

const KINDS: KindDef[] = RESOURCE_KINDS.map((k) => ({
  ...k,
  validate: (r: Resource): FieldViolation[] => (k.type === 'OPAPolicy' && typeof r.conf !== 'object' ? [{ field: 'conf', message: 'must be defined' }] : []),
}));

function recordingLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: createLogger('debug', { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

/** Polls until `check` holds; fails after two seconds (the re-scan interval is set far longer, so only fs events count). */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const open: DirectoryWatch[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
});

async function setUp(files: Record<string, string>, opts: { rescanMs?: number; fsEvents?: boolean } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'kmesh-opa-dir-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const { log, lines } = recordingLog();
  const store = new ResourceStore({ kinds: KINDS, log });
  const watch = await watchResourcesDir(dir, store, log, { debounceMs: 20, rescanMs: 60_000, ...opts });
  open.push(watch);
  const names = (): string[] => store.list('OPAPolicy').map((s) => s.resource.name);
  return { dir, store, lines, names };
}

const TWO_POLICIES = `# two documents and an empty one
type: OPAPolicy
mesh: default
name: one
conf: {policies: []}
---
---
type: OPAPolicy
mesh: default
name: two
conf: {policies: []}
`;

describe('watchResourcesDir', () => {
  it('loads every document of every yaml/yml/json file before resolving, skipping empty documents and other files', async () => {
    const { dir, store, names } = await setUp({
      'policies.yaml': TWO_POLICIES,
      'three.json': JSON.stringify({ type: 'OPAPolicy', mesh: 'default', name: 'three', conf: {} }),
      'four.yml': 'type: OPAPolicy\nmesh: default\nname: four\nconf: {}\n',
      'notes.txt': 'type: OPAPolicy\nmesh: default\nname: ignored\nconf: {}\n',
    });
    expect(names()).toEqual(['four', 'one', 'three', 'two']);
    expect(store.get('OPAPolicy', 'default', 'one')?.origin).toBe(`file:${join(dir, 'policies.yaml')}`);
  });

  it('applies an edit without a restart, including one written as editors do (temp file renamed over)', async () => {
    const { dir, names } = await setUp({ 'p.yaml': TWO_POLICIES });
    await writeFile(join(dir, 'p.yaml'), TWO_POLICIES.replace('name: two', 'name: deux'));
    await eventually(() => names().join() === 'deux,one', 'the edit is applied');
    await writeFile(join(dir, '.p.yaml.tmp'), 'type: OPAPolicy\nmesh: default\nname: renamed\nconf: {}\n');
    await rename(join(dir, '.p.yaml.tmp'), join(dir, 'p.yaml'));
    await eventually(() => names().join() === 'renamed', 'the renamed file is applied');
  });

  it('keeps the previous resources of a file whose new version is bad YAML, logging the file and the line', async () => {
    const { dir, lines, names } = await setUp({ 'p.yaml': TWO_POLICIES });
    const file = join(dir, 'p.yaml');
    await writeFile(file, 'type: OPAPolicy\nname: [unclosed\n');
    await eventually(() => lines.some((l) => l.level === 'error'), 'the parse error is logged');
    const error = lines.find((l) => l.level === 'error')!;
    expect(error).toMatchObject({ file });
    expect(String(error.err)).toMatch(/line \d+, column \d+/);
    expect(names()).toEqual(['one', 'two']);

    await writeFile(file, 'type: OPAPolicy\nmesh: default\nname: fixed\nconf: {}\n');
    await eventually(() => names().join() === 'fixed', 'the good version is applied');
  });

  it('keeps the previous resources of a file the store refuses (a document without conf), naming the field', async () => {
    const { dir, lines, names } = await setUp({ 'p.yaml': TWO_POLICIES });
    await writeFile(join(dir, 'p.yaml'), `${TWO_POLICIES}---\ntype: OPAPolicy\nmesh: default\nname: three\n`);
    await eventually(() => lines.some((l) => l.level === 'error'), 'the refusal is logged');
    expect(lines.find((l) => l.level === 'error')).toMatchObject({ err: '[2].conf: must be defined', documentLines: [2, 7, 12] });
    expect(names()).toEqual(['one', 'two']);
  });

  it("removes a deleted file's resources", async () => {
    const { dir, names } = await setUp({ 'p.yaml': TWO_POLICIES, 'q.yml': 'type: OPAPolicy\nmesh: default\nname: kept\nconf: {}\n' });
    await rm(join(dir, 'p.yaml'));
    await eventually(() => names().join() === 'kept', "the file's resources are removed");
  });

  it("retries a deleted file's refused removal once another file applies (the refusal's cause removed)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kmesh-opa-dir-'));
    await writeFile(join(dir, 'policy.yaml'), 'type: OPAPolicy\nmesh: default\nname: user\nconf: {}\n');
    await writeFile(join(dir, 'secret.yaml'), 'type: Secret\nmesh: default\nname: s\ndata: YQ==\n');
    const { log } = recordingLog();
    // Stands in for the controller: a Secret may not go while an OPAPolicy named "user" exists.
    const admit: Admit = async (next) => {
      if (next.get('Secret', 'default', 's') === undefined && next.get('OPAPolicy', 'default', 'user') !== undefined) throw new Error('secret s is in use');
    };
    const store = new ResourceStore({ kinds: KINDS, admit, log });
    open.push(await watchResourcesDir(dir, store, log, { debounceMs: 20, rescanMs: 60_000 }));
    await rm(join(dir, 'secret.yaml'));
    await new Promise((r) => setTimeout(r, 200));
    expect(store.get('Secret', 'default', 's')).toBeDefined();
    await writeFile(join(dir, 'policy.yaml'), 'type: OPAPolicy\nmesh: default\nname: other\nconf: {}\n');
    await eventually(() => store.get('Secret', 'default', 's') === undefined, 'the removal is retried and admitted');
  });

  it('applies new, changed and removed files through the periodic re-scan alone when fs events are off', async () => {
    const { dir, names } = await setUp({ 'gone.yaml': 'type: OPAPolicy\nmesh: default\nname: gone\nconf: {}\n' }, { rescanMs: 100, fsEvents: false });
    await rm(join(dir, 'gone.yaml'));
    await writeFile(join(dir, 'late.yaml'), 'type: OPAPolicy\nmesh: default\nname: late\nconf: {}\n');
    await eventually(() => names().join() === 'late', 'the re-scan applies the new file and the removal');
    await writeFile(join(dir, 'late.yaml'), 'type: OPAPolicy\nmesh: default\nname: later\nconf: {}\n');
    await eventually(() => names().join() === 'later', 'the re-scan applies the change');
  });

  it("keeps the API from overwriting a directory file's resource", async () => {
    const { store } = await setUp({ 'p.yaml': TWO_POLICIES });
    await expect(store.put({ type: 'OPAPolicy', mesh: 'default', name: 'one', conf: {} }, 'api')).rejects.toBeInstanceOf(ConflictError);
  });
});
