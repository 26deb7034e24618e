// The agent's resource store: Kong Mesh resources in Kuma's Universal form, validated on the way in,
// written one at a time through an admission hook that sees the store as it would be after the write,
// and persisted (API and default resources only) so that changes survive a restart.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../files.js';
import type { Logger } from '../log.js';
import { ValidationError, type FieldViolation, type Resource, type ResourceKind, type StoredResource } from './types.js';

/** A kind the store accepts, with its spec checks (written by the kind's owner). */
export interface KindDef extends ResourceKind {
  validate(r: Resource): FieldViolation[];
}

/** A read-only view of the store's resources. */
export interface StoreView {
  get(type: string, mesh: string | undefined, name: string): StoredResource | undefined;
  /** Sorted by name (then mesh); every mesh when `mesh` is not given. */
  list(type: string, mesh?: string): StoredResource[];
}

/** One resource written or removed by a write. */
export interface Change {
  kind: 'put' | 'delete';
  type: string;
  mesh: string | undefined;
  name: string;
  origin: string;
}

/**
 * Called before a write is made, with the store as it would be after it and every change it makes
 * (a directory sync may make several); throws (ValidationError or any Error) to refuse it.
 */
export type Admit = (next: StoreView, changes: readonly Change[]) => Promise<void>;

/** Called inside a write, before anything changes, with the resource it replaces; throws to refuse it. */
export type WriteGuard = (current: Resource | undefined) => void;

export interface StoreOptions {
  kinds: readonly KindDef[];
  admit?: Admit;
  /** Where API and default resources are kept across restarts. */
  persistFile?: string;
  log: Logger;
  now?: () => Date;
}

/** A write that would touch a resource owned by another origin (a resources-directory file). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

/** The admission hook refused a write with an Error that is not a ValidationError; its message is the hook's, unchanged. */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
  constructor(readonly reason: Error) {
    super(reason.message, { cause: reason });
  }
}

/** Origins whose resources are persisted: the files of the resources directory are their own record. */
const PERSISTED_ORIGINS = new Set(['api', 'default']);
const FILE_ORIGIN = 'file:';

// Kuma's identifier rules (pkg/core/resources/apis/mesh/meta_validator.go): names are lowercase
// RFC 1123 subdomains; meshes keep the older, laxer character set so that meshes named before the
// rule changed stay addressable.
const MAX_NAME_LENGTH = 253;
const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_MESSAGE =
  "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const MESH_PATTERN = /^[0-9a-z\-_.]*$/;
const MESH_MESSAGE = "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', '.' symbols.";

/** Fields Kuma sets itself: a written body's values are ignored. */
const SERVER_FIELDS = new Set(['creationTime', 'modificationTime']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function keyOf(type: string, mesh: string | undefined, name: string): string {
  return `${type}\u0000${mesh ?? ''}\u0000${name}`;
}

/** `opapolicies/default/opa-1` (mesh-scoped) or `global-secrets/token` (global), as messages name a resource. */
function describe(kind: ResourceKind, mesh: string | undefined, name: string): string {
  return mesh === undefined ? `${kind.path}/${name}` : `${kind.path}/${mesh}/${name}`;
}

function compareStored(a: StoredResource, b: StoredResource): number {
  const byName = a.resource.name < b.resource.name ? -1 : a.resource.name > b.resource.name ? 1 : 0;
  if (byName !== 0) return byName;
  const [ma, mb] = [a.resource.mesh ?? '', b.resource.mesh ?? ''];
  return ma < mb ? -1 : ma > mb ? 1 : 0;
}

/** An immutable set of resources: the committed store, or the store as a write would leave it. */
class Snapshot implements StoreView {
  constructor(readonly items: ReadonlyMap<string, StoredResource>) {}

  get(type: string, mesh: string | undefined, name: string): StoredResource | undefined {
    return this.items.get(keyOf(type, mesh, name));
  }

  list(type: string, mesh?: string): StoredResource[] {
    const out: StoredResource[] = [];
    for (const stored of this.items.values()) {
      if (stored.resource.type === type && (mesh === undefined || stored.resource.mesh === mesh)) out.push(stored);
    }
    return out.sort(compareStored);
  }
}

/** What one write would do: the resulting items and the changes that lead there. */
interface Plan {
  items: Map<string, StoredResource>;
  changes: Change[];
  /** Resources of origin `api`/`default` taken over by a file, for the warning log. */
  takenOver: StoredResource[];
}

export class ResourceStore implements StoreView {
  private readonly kindsByType: ReadonlyMap<string, KindDef>;
  private readonly kindsByPath: ReadonlyMap<string, KindDef>;
  private readonly unknownTypeMessage: string;
  private readonly now: () => Date;
  private readonly listeners = new Set<(changes: Change[]) => void>();
  private snapshot = new Snapshot(new Map());
  /** The tail of the write queue: writes run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: StoreOptions) {
    this.kindsByType = new Map(opts.kinds.map((k) => [k.type, k]));
    this.kindsByPath = new Map(opts.kinds.map((k) => [k.path, k]));
    this.unknownTypeMessage = `kmesh-opa stores ${opts.kinds.map((k) => k.type).join(', ')}`;
    this.now = opts.now ?? (() => new Date());
  }

  /** A store with the persisted resources loaded back; a persist file that cannot be read refuses to start. */
  static async open(opts: StoreOptions): Promise<ResourceStore> {
    const store = new ResourceStore(opts);
    if (opts.persistFile !== undefined) await store.load(opts.persistFile);
    return store;
  }

  kinds(): readonly KindDef[] {
    return this.opts.kinds;
  }

  kind(type: string): KindDef | undefined {
    return this.kindsByType.get(type);
  }

  kindByPath(path: string): KindDef | undefined {
    return this.kindsByPath.get(path);
  }

  get(type: string, mesh: string | undefined, name: string): StoredResource | undefined {
    return this.snapshot.get(type, mesh, name);
  }

  list(type: string, mesh?: string): StoredResource[] {
    return this.snapshot.list(type, mesh);
  }

  /**
   * The resource as the store would keep it (type, mesh, name, then the other fields in written
   * order; Kuma's timestamps dropped), or a ValidationError naming every bad field as Kuma does.
   */
  validate(value: unknown): Resource {
    if (!isObject(value)) throw new ValidationError([{ field: '', message: 'must be an object with type, name and the spec fields' }]);
    const kind = this.validateType(value.type);
    const violations = [...validateIdentifier('name', value.name, NAME_PATTERN, NAME_MESSAGE), ...this.validateMesh(kind, value.mesh)];
    if (violations.length > 0) throw new ValidationError(violations);
    const resource = normalize(kind, value);
    const specViolations = kind.validate(resource);
    if (specViolations.length > 0) throw new ValidationError(specViolations);
    return resource;
  }

  /**
   * Creates or replaces a resource. `guard` (an access check) sees the resource being replaced as it is
   * when the write runs, not as the caller last read it: an earlier queued write may have changed it.
   */
  put(value: unknown, origin: string, guard?: WriteGuard): Promise<{ created: boolean; stored: StoredResource }> {
    return this.serialize(async () => {
      const resource = this.validate(value);
      const key = keyOf(resource.type, resource.mesh, resource.name);
      const current = this.snapshot.items.get(key);
      guard?.(current?.resource);
      if (current) this.checkOwner(current, origin);
      const items = new Map(this.snapshot.items);
      const stored = this.stamp(resource, origin, current);
      items.set(key, stored);
      await this.commit({ items, changes: [changeOf('put', resource, origin)], takenOver: [] }, current ? [current] : []);
      return { created: current === undefined, stored };
    });
  }

  /** Removes a resource; false when there is none. `guard` as for put. */
  delete(type: string, mesh: string | undefined, name: string, origin: string, guard?: WriteGuard): Promise<boolean> {
    return this.serialize(async () => {
      const key = keyOf(type, mesh, name);
      const current = this.snapshot.items.get(key);
      if (!current) return false;
      guard?.(current.resource);
      this.checkOwner(current, origin);
      const items = new Map(this.snapshot.items);
      items.delete(key);
      await this.commit({ items, changes: [changeOf('delete', current.resource, origin)], takenOver: [] }, [current]);
      return true;
    });
  }

  /**
   * Makes the resources of `origin` (a directory file) exactly `values`, in one admitted write: all
   * of them are applied or none. A violation's field is prefixed with the value's index (`[1].name`).
   */
  syncOrigin(origin: string, values: readonly unknown[]): Promise<void> {
    return this.serialize(async () => {
      const plan = this.planSync(origin, this.validateAll(values));
      if (plan.changes.length === 0) return;
      const replaced = plan.changes.flatMap((c) => this.snapshot.items.get(keyOf(c.type, c.mesh, c.name)) ?? []);
      await this.commit(plan, replaced);
      for (const stored of plan.takenOver) {
        const kind = this.kindsByType.get(stored.resource.type)!;
        this.opts.log.warn('a resources-directory file took over a resource written through the API', {
          resource: describe(kind, stored.resource.mesh, stored.resource.name),
          file: origin.slice(FILE_ORIGIN.length),
          previousOrigin: stored.origin,
        });
      }
    });
  }

  /** Called after every committed write with its changes; returns the unsubscribe function. */
  onChange(listener: (changes: Change[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- Validation -------------------------------------------------------------------------------

  private validateType(type: unknown): KindDef {
    const kind = typeof type === 'string' ? this.kindsByType.get(type) : undefined;
    if (kind) return kind;
    if (type === undefined || type === '') throw new ValidationError([{ field: 'type', message: `cannot be empty; ${this.unknownTypeMessage}` }]);
    throw new ValidationError([{ field: 'type', message: `unknown type ${JSON.stringify(type) ?? String(type)}; ${this.unknownTypeMessage}` }]);
  }

  private validateMesh(kind: KindDef, mesh: unknown): FieldViolation[] {
    if (kind.scope === 'mesh') return validateIdentifier('mesh', mesh, MESH_PATTERN, MESH_MESSAGE);
    return mesh === undefined ? [] : [{ field: 'mesh', message: 'must not be set' }];
  }

  private validateAll(values: readonly unknown[]): Resource[] {
    const violations: FieldViolation[] = [];
    const resources: Resource[] = [];
    const seen = new Map<string, number>();
    values.forEach((value, i) => {
      try {
        const resource = this.validate(value);
        const key = keyOf(resource.type, resource.mesh, resource.name);
        const first = seen.get(key);
        if (first !== undefined) violations.push({ field: `[${i}].name`, message: `declares the same resource as [${first}]` });
        else seen.set(key, i);
        resources.push(resource);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        violations.push(...err.violations.map((v) => ({ field: v.field === '' ? `[${i}]` : `[${i}].${v.field}`, message: v.message })));
      }
    });
    if (violations.length > 0) throw new ValidationError(violations);
    return resources;
  }

  // --- Writes -----------------------------------------------------------------------------------

  private serialize<T>(write: () => Promise<T>): Promise<T> {
    const result = this.queue.then(write);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** API writes cannot touch a file's resources: the file would put them back, so the file must be edited. */
  private checkOwner(current: StoredResource, origin: string): void {
    if (!current.origin.startsWith(FILE_ORIGIN) || current.origin === origin) return;
    const kind = this.kindsByType.get(current.resource.type)!;
    const what = describe(kind, current.resource.mesh, current.resource.name);
    const file = current.origin.slice(FILE_ORIGIN.length);
    if (origin.startsWith(FILE_ORIGIN)) throw new ConflictError(`resource ${what} is already declared by file ${file}`);
    throw new ConflictError(`resource ${what} is managed by file ${file}; edit the file`);
  }

  private stamp(resource: Resource, origin: string, current: StoredResource | undefined): StoredResource {
    const now = this.now().toISOString();
    return { resource, creationTime: current?.creationTime ?? now, modificationTime: now, origin };
  }

  private planSync(origin: string, resources: Resource[]): Plan {
    const items = new Map(this.snapshot.items);
    const changes: Change[] = [];
    const takenOver: StoredResource[] = [];
    const wanted = new Set<string>();
    for (const resource of resources) {
      const key = keyOf(resource.type, resource.mesh, resource.name);
      wanted.add(key);
      const current = items.get(key);
      if (current) this.checkOwner(current, origin);
      if (current?.origin === origin && sameContent(current.resource, resource)) continue;
      if (current && current.origin !== origin) takenOver.push(current);
      items.set(key, this.stamp(resource, origin, current));
      changes.push(changeOf('put', resource, origin));
    }
    for (const [key, stored] of this.snapshot.items) {
      if (stored.origin !== origin || wanted.has(key)) continue;
      items.delete(key);
      changes.push(changeOf('delete', stored.resource, origin));
    }
    return { items, changes, takenOver };
  }

  /** Admits, persists, then swaps in the new items: a refusal or a failed persist changes nothing. */
  private async commit(plan: Plan, replaced: readonly StoredResource[]): Promise<void> {
    const next = new Snapshot(plan.items);
    if (this.opts.admit) {
      try {
        await this.opts.admit(next, plan.changes);
      } catch (err) {
        if (err instanceof ValidationError || !(err instanceof Error)) throw err;
        throw new RefusedError(err);
      }
    }
    const touchesPersisted = plan.changes.some((c) => PERSISTED_ORIGINS.has(c.origin)) || replaced.some((r) => PERSISTED_ORIGINS.has(r.origin));
    if (this.opts.persistFile !== undefined && touchesPersisted) await persist(this.opts.persistFile, next);
    this.snapshot = next;
    this.notify(plan.changes);
  }

  private notify(changes: Change[]): void {
    for (const listener of this.listeners) {
      try {
        listener(changes);
      } catch (err) {
        this.opts.log.error('resource change listener failed', { err: err instanceof Error ? err.stack : String(err) });
      }
    }
  }

  // --- Persistence ------------------------------------------------------------------------------

  private async load(file: string): Promise<void> {
    const entries = await readPersisted(file);
    const items = new Map<string, StoredResource>();
    entries.forEach((entry, i) => {
      try {
        const resource = this.validate(entry.resource);
        items.set(keyOf(resource.type, resource.mesh, resource.name), { ...entry, resource });
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        this.opts.log.error('skipping an invalid persisted resource', { file, index: i, err: err.message });
      }
    });
    this.snapshot = new Snapshot(items);
  }
}

function validateIdentifier(field: string, value: unknown, pattern: RegExp, message: string): FieldViolation[] {
  if (value === undefined || value === '') return [{ field, message: 'cannot be empty' }];
  if (typeof value !== 'string') return [{ field, message: 'must be a string' }];
  if (value.length > MAX_NAME_LENGTH) return [{ field, message: `value length must less or equal ${MAX_NAME_LENGTH}` }];
  return pattern.test(value) ? [] : [{ field, message }];
}

/** A detached copy in Kuma's field order, without the fields Kuma sets itself. */
function normalize(kind: KindDef, value: Record<string, unknown>): Resource {
  const resource: Resource = { type: kind.type, ...(kind.scope === 'mesh' ? { mesh: value.mesh as string } : {}), name: value.name as string };
  for (const [field, fieldValue] of Object.entries(value)) {
    if (field in resource || SERVER_FIELDS.has(field) || fieldValue === undefined) continue;
    resource[field] = structuredClone(fieldValue);
  }
  return resource;
}

function changeOf(kind: Change['kind'], resource: Resource, origin: string): Change {
  return { kind, type: resource.type, mesh: resource.mesh, name: resource.name, origin };
}

function sameContent(a: Resource, b: Resource): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The persist file: the persisted origins' resources with their timestamps, so creationTime survives a restart. */
interface PersistedEntry {
  resource: unknown;
  creationTime: string;
  modificationTime: string;
  origin: string;
}

async function readPersisted(file: string): Promise<PersistedEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read the persisted resources file ${file}: ${(err as Error).message}`);
  }
  const refuse = (why: string): Error => new Error(`the persisted resources file ${file} is corrupt (${why}); restore it or remove it to start without the resources written through the API`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw refuse((err as Error).message);
  }
  if (!isObject(doc) || !Array.isArray(doc.resources)) throw refuse('expected {"resources": [...]}');
  return doc.resources.map((entry, i) => {
    if (!isPersistedEntry(entry)) throw refuse(`resources[${i}] is not {resource, creationTime, modificationTime, origin}`);
    return entry;
  });
}

function isPersistedEntry(entry: unknown): entry is PersistedEntry {
  return (
    isObject(entry) &&
    isObject(entry.resource) &&
    typeof entry.creationTime === 'string' &&
    typeof entry.modificationTime === 'string' &&
    typeof entry.origin === 'string' &&
    PERSISTED_ORIGINS.has(entry.origin)
  );
}

function compareForFile(a: StoredResource, b: StoredResource): number {
  if (a.resource.type !== b.resource.type) return a.resource.type < b.resource.type ? -1 : 1;
  return compareStored(a, b);
}

/** Replaced atomically and owner-only: it holds Secrets. */
async function persist(file: string, view: Snapshot): Promise<void> {
  const resources = [...view.items.values()].filter((s) => PERSISTED_ORIGINS.has(s.origin)).sort(compareForFile);
  await writeFileAtomic(file, `${JSON.stringify({ resources }, null, 2)}\n`);
}
