// The resource store: Kuma's validation of the metadata, serialized and admitted writes, file
// ownership, and persistence across restarts. Expected messages are Kuma's
// (pkg/core/resources/apis/mesh/meta_validator.go) or this project's documented wording.
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../../src/log.js';
import { ConflictError, RefusedError, ResourceStore, type Admit, type Change, type KindDef } from '../../../src/resources/store.js';
import { RESOURCE_KINDS, ValidationError, type FieldViolation, type Resource } from '../../../src/resources/types.js';
import { violationsOf } from '../../helpers/validation.js';

/** The kinds with small spec checks standing in for the real validators: an OPAPolicy needs `conf`, a secret `data`. */
const KINDS: KindDef[] = RESOURCE_KINDS.map((k) => ({
  ...k,
  validate: (r: Resource): FieldViolation[] => {
    if (k.type === 'OPAPolicy' && typeof r.conf !== 'object') return [{ field: 'conf', message: 'must be defined' }];
    if (k.type.endsWith('Secret') && typeof r.data !== 'string') return [{ field: 'data', message: 'must be defined' }];
    return [];
  },
}));

const NAME_RULE =
  "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

function recordingLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: createLogger('debug', { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

/** A clock the test moves: each call returns the next second of 2024-05-01. */
function clock(): () => Date {
  let second = 0;
  return () => new Date(Date.UTC(2024, 4, 1, 0, 0, second++));
}

function policy(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'OPAPolicy', mesh: 'default', name, conf: { policies: [] }, ...extra };
}


describe('validation', () => {
  const store = new ResourceStore({ kinds: KINDS, log: recordingLog().log });

  it('refuses an unknown type, listing the stored types', () => {
    expect(() => store.validate({ type: 'TrafficPermission', mesh: 'default', name: 'tp' })).toThrow(
      'type: unknown type "TrafficPermission"; kmesh-opa stores OPAPolicy, Secret, GlobalSecret, AccessRole, AccessRoleBinding',
    );
  });

  it('refuses a value that is not an object (an array, a string, null)', () => {
    for (const bad of [[policy('a')], 'OPAPolicy', null]) expect(violationsOf(() => store.validate(bad))).toHaveLength(1);
  });

  it("names bad names as Kuma does: empty, upper case, a slash, a blank, a leading dash, 254 characters", () => {
    expect(violationsOf(() => store.validate(policy('')))).toEqual([{ field: 'name', message: 'cannot be empty' }]);
    for (const bad of ['Opa', 'a/b', 'a b', '-a', 'a_b']) expect(violationsOf(() => store.validate(policy(bad)))).toEqual([{ field: 'name', message: NAME_RULE }]);
    expect(violationsOf(() => store.validate(policy('a'.repeat(254))))).toEqual([{ field: 'name', message: 'value length must less or equal 253' }]);
    expect(store.validate(policy(`${'a'.repeat(251)}.b`)).name).toHaveLength(253);
  });

  it('requires a mesh on mesh-scoped kinds (underscores allowed, as Kuma keeps for old meshes) and refuses one on global kinds', () => {
    expect(violationsOf(() => store.validate(policy('a', { mesh: undefined })))).toEqual([{ field: 'mesh', message: 'cannot be empty' }]);
    expect(violationsOf(() => store.validate(policy('a', { mesh: 'Bad Mesh' })))).toEqual([
      { field: 'mesh', message: "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', '.' symbols." },
    ]);
    expect(store.validate(policy('a', { mesh: 'old_mesh' })).mesh).toBe('old_mesh');
    expect(violationsOf(() => store.validate({ type: 'GlobalSecret', mesh: 'default', name: 'token', data: 'eA==' }))).toEqual([{ field: 'mesh', message: 'must not be set' }]);
  });

  it("runs the kind's own checks once the metadata is valid", () => {
    expect(violationsOf(() => store.validate({ type: 'Secret', mesh: 'default', name: 's' }))).toEqual([{ field: 'data', message: 'must be defined' }]);
  });

  it("drops the timestamps of a written body and orders the fields as Kuma's Universal form", () => {
    const written = { conf: { x: 1 }, name: 'p', creationTime: '2000-01-01T00:00:00Z', modificationTime: 'x', mesh: 'default', type: 'OPAPolicy' };
    expect(Object.keys(store.validate(written))).toEqual(['type', 'mesh', 'name', 'conf']);
  });
});

describe('writes', () => {
  it('creates, then updates keeping creationTime and moving modificationTime', async () => {
    const store = new ResourceStore({ kinds: KINDS, log: recordingLog().log, now: clock() });
    const first = await store.put(policy('p1'), 'api');
    const second = await store.put(policy('p1', { conf: { policies: ['x'] } }), 'api');
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.stored).toMatchObject({ creationTime: '2024-05-01T00:00:00.000Z', modificationTime: '2024-05-01T00:00:01.000Z', origin: 'api' });
    expect(store.get('OPAPolicy', 'default', 'p1')?.resource.conf).toEqual({ policies: ['x'] });
  });

  it('lists by type and mesh, sorted by name', async () => {
    const store = new ResourceStore({ kinds: KINDS, log: recordingLog().log });
    for (const [name, mesh] of [['b', 'default'], ['a', 'other'], ['c', 'default']]) await store.put(policy(name!, { mesh }), 'api');
    expect(store.list('OPAPolicy', 'default').map((s) => s.resource.name)).toEqual(['b', 'c']);
    expect(store.list('OPAPolicy').map((s) => s.resource.name)).toEqual(['a', 'b', 'c']);
  });

  it('deletes, answering false for an absent resource', async () => {
    const store = new ResourceStore({ kinds: KINDS, log: recordingLog().log });
    await store.put(policy('p1'), 'api');
    expect(await store.delete('OPAPolicy', 'default', 'p1', 'api')).toBe(true);
    expect(await store.delete('OPAPolicy', 'default', 'p1', 'api')).toBe(false);
    expect(store.list('OPAPolicy')).toEqual([]);
  });

  it('admits each write on the store as it would be after it; a refusal changes nothing and tells no listener', async () => {
    const seen: Array<{ names: string[]; changes: readonly Change[] }> = [];
    const admit: Admit = async (next, changes) => {
      seen.push({ names: next.list('OPAPolicy').map((s) => s.resource.name), changes });
      if (changes.some((c) => c.name === 'refused')) throw Object.assign(new Error('policy.rego:3:5: rego_parse_error: unexpected eof token'), { name: 'CompileError' });
    };
    const store = new ResourceStore({ kinds: KINDS, admit, log: recordingLog().log });
    const told: Change[][] = [];
    store.onChange((c) => told.push(c));
    await store.put(policy('ok'), 'api');
    const refusal = store.put(policy('refused'), 'api');
    await expect(refusal).rejects.toBeInstanceOf(RefusedError);
    await expect(refusal).rejects.toThrow(/^policy\.rego:3:5: rego_parse_error: unexpected eof token$/);
    expect(seen.map((s) => s.names)).toEqual([['ok'], ['ok', 'refused']]);
    expect(seen[1]!.changes).toEqual([{ kind: 'put', type: 'OPAPolicy', mesh: 'default', name: 'refused', origin: 'api' }]);
    expect(store.list('OPAPolicy').map((s) => s.resource.name)).toEqual(['ok']);
    expect(told).toHaveLength(1);
  });

  it('passes a ValidationError from admission through unchanged', async () => {
    const refusal = new ValidationError([{ field: 'spec.roles[0]', message: 'role "x" does not exist' }]);
    const store = new ResourceStore({ kinds: KINDS, admit: () => Promise.reject(refusal), log: recordingLog().log });
    await expect(store.put(policy('p'), 'api')).rejects.toBe(refusal);
  });

  it('runs writes one at a time in call order: a slow admission holds the next write', async () => {
    const order: string[] = [];
    const admit: Admit = async (next, changes) => {
      const name = changes[0]!.name;
      if (name === 'slow') await new Promise((r) => setTimeout(r, 50));
      order.push(`${name}:${next.list('OPAPolicy').length}`);
    };
    const store = new ResourceStore({ kinds: KINDS, admit, log: recordingLog().log });
    await Promise.all([store.put(policy('slow'), 'api'), store.put(policy('fast'), 'api')]);
    expect(order).toEqual(['slow:1', 'fast:2']);
  });

  it("runs a write's guard on the resource as an earlier queued write left it, and a throwing guard changes nothing", async () => {
    const store = new ResourceStore({ kinds: KINDS, log: recordingLog().log });
    await store.put(policy('p', { conf: { policies: [], owner: 'team-a' } }), 'api');
    const seen: unknown[] = [];
    const onlyTeamA = (current: Resource | undefined): void => {
      seen.push((current?.conf as { owner?: string } | undefined)?.owner);
      if ((current?.conf as { owner?: string } | undefined)?.owner !== 'team-a') throw new Error('not team-a');
    };
    // Both calls are made before either runs, as two concurrent API requests would make them.
    const takeOver = store.put(policy('p', { conf: { policies: [], owner: 'team-b' } }), 'api');
    const removal = store.delete('OPAPolicy', 'default', 'p', 'api', onlyTeamA);
    await takeOver;
    await expect(removal).rejects.toThrow('not team-a');
    expect(seen).toEqual(['team-b']);
    expect(store.get('OPAPolicy', 'default', 'p')).toBeDefined();
  });
});

describe('file ownership', () => {
  it("refuses API writes and deletes of a file's resource, naming the file", async () => {
    const store = new ResourceStore({ kinds: KINDS, log: recordingLog().log });
    await store.syncOrigin('file:/x/y.yaml', [policy('opa-1')]);
    const message = 'resource opapolicies/default/opa-1 is managed by file /x/y.yaml; edit the file';
    await expect(store.put(policy('opa-1'), 'api')).rejects.toThrow(new ConflictError(message));
    await expect(store.delete('OPAPolicy', 'default', 'opa-1', 'api')).rejects.toThrow(message);
    expect(store.get('OPAPolicy', 'default', 'opa-1')?.origin).toBe('file:/x/y.yaml');
  });

  it('lets a file take over a resource written through the API, with a warning', async () => {
    const { log, lines } = recordingLog();
    const store = new ResourceStore({ kinds: KINDS, log });
    await store.put(policy('opa-1'), 'api');
    await store.syncOrigin('file:/x/y.yaml', [policy('opa-1', { conf: { from: 'file' } })]);
    expect(store.get('OPAPolicy', 'default', 'opa-1')).toMatchObject({ origin: 'file:/x/y.yaml', resource: { conf: { from: 'file' } } });
    expect(lines.find((l) => l.level === 'warn')).toMatchObject({ resource: 'opapolicies/default/opa-1', file: '/x/y.yaml', previousOrigin: 'api' });
  });

  it('refuses a second file declaring a resource of another file', async () => {
    const store = new ResourceStore({ kinds: KINDS, log: recordingLog().log });
    await store.syncOrigin('file:/a.yaml', [policy('p')]);
    await expect(store.syncOrigin('file:/b.yaml', [policy('p')])).rejects.toThrow('resource opapolicies/default/p is already declared by file /a.yaml');
  });
});

describe('syncOrigin', () => {
  it('applies all of a file or none: one bad document refuses the set, its field prefixed by its index', async () => {
    const store = new ResourceStore({ kinds: KINDS, log: recordingLog().log });
    await store.syncOrigin('file:/f.yaml', [policy('a')]);
    const refusal = store.syncOrigin('file:/f.yaml', [policy('b'), policy('Bad')]);
    await expect(refusal).rejects.toThrow(`[1].name: ${NAME_RULE}`);
    expect(store.list('OPAPolicy').map((s) => s.resource.name)).toEqual(['a']);
  });

  it('refuses two documents declaring the same resource', async () => {
    const store = new ResourceStore({ kinds: KINDS, log: recordingLog().log });
    await expect(store.syncOrigin('file:/f.yaml', [policy('a'), policy('a')])).rejects.toThrow('[1].name: declares the same resource as [0]');
  });

  it('admits the whole set once, removes what the file no longer declares, and skips a sync that changes nothing', async () => {
    const admitted: Array<readonly Change[]> = [];
    const store = new ResourceStore({ kinds: KINDS, admit: async (_n, c) => void admitted.push(c), log: recordingLog().log });
    await store.syncOrigin('file:/f.yaml', [policy('a'), policy('b')]);
    await store.syncOrigin('file:/f.yaml', [policy('b')]);
    await store.syncOrigin('file:/f.yaml', [policy('b')]);
    expect(admitted.map((changes) => changes.map((c) => `${c.kind}:${c.name}`))).toEqual([['put:a', 'put:b'], ['delete:a']]);
    expect(store.list('OPAPolicy').map((s) => s.resource.name)).toEqual(['b']);
  });
});

describe('persistence', () => {
  async function tempFile(): Promise<string> {
    return join(await mkdtemp(join(tmpdir(), 'kmesh-opa-store-')), 'state', 'resources.json');
  }

  it('keeps API and default resources across a restart, with their timestamps; file resources are not written', async () => {
    const persistFile = await tempFile();
    const store = await ResourceStore.open({ kinds: KINDS, persistFile, log: recordingLog().log, now: clock() });
    await store.put({ type: 'AccessRoleBinding', name: 'default', subjects: [], roles: ['admin'] }, 'default');
    await store.put(policy('p1'), 'api');
    await store.syncOrigin('file:/x.yaml', [policy('from-file')]);
    expect((await stat(persistFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(persistFile, '..'))).mode & 0o777).toBe(0o700);

    const reopened = await ResourceStore.open({ kinds: KINDS, persistFile, log: recordingLog().log });
    expect(reopened.get('OPAPolicy', 'default', 'p1')).toEqual(store.get('OPAPolicy', 'default', 'p1'));
    expect(reopened.get('AccessRoleBinding', undefined, 'default')?.origin).toBe('default');
    expect(reopened.get('OPAPolicy', 'default', 'from-file')).toBeUndefined();
  });

  it('rewrites the file when a file takes over a persisted resource, so the API copy does not come back', async () => {
    const persistFile = await tempFile();
    const store = await ResourceStore.open({ kinds: KINDS, persistFile, log: recordingLog().log });
    await store.put(policy('p1'), 'api');
    await store.syncOrigin('file:/x.yaml', [policy('p1')]);
    expect(JSON.parse(await readFile(persistFile, 'utf8'))).toEqual({ resources: [] });
  });

  it('refuses to start on a corrupt persist file (truncated JSON), naming it', async () => {
    const persistFile = await tempFile();
    const store = await ResourceStore.open({ kinds: KINDS, persistFile, log: recordingLog().log });
    await store.put(policy('p1'), 'api');
    const text = await readFile(persistFile, 'utf8');
    await writeFile(persistFile, text.slice(0, text.length / 2));
    await expect(ResourceStore.open({ kinds: KINDS, persistFile, log: recordingLog().log })).rejects.toThrow(`the persisted resources file ${persistFile} is corrupt`);
  });

  it('skips, with an error log, a persisted resource that no longer validates (an upper-case name)', async () => {
    const persistFile = await tempFile();
    const store = await ResourceStore.open({ kinds: KINDS, persistFile, log: recordingLog().log });
    await store.put(policy('good'), 'api');
    const doc = JSON.parse(await readFile(persistFile, 'utf8')) as { resources: Array<{ resource: Record<string, unknown> }> };
    doc.resources.push({ ...doc.resources[0]!, resource: policy('Bad') });
    await writeFile(persistFile, JSON.stringify(doc));
    const { log, lines } = recordingLog();
    const reopened = await ResourceStore.open({ kinds: KINDS, persistFile, log });
    expect(reopened.list('OPAPolicy').map((s) => s.resource.name)).toEqual(['good']);
    expect(lines).toEqual([expect.objectContaining({ level: 'error', msg: 'skipping an invalid persisted resource', index: 1 })]);
  });
});
