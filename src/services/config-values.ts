// Typed reads of one configuration section, each naming the full key in its error. OPA decodes its
// configuration into Go structs, so a value of the wrong type fails there too; unknown keys are
// ignored by OPA, so they are collected here for a warning rather than refused.

export type Section = Readonly<Record<string, unknown>>;

export class ConfigValueError extends Error {
  override readonly name: string = 'ConfigValueError';
}

export class SectionReader {
  private readonly seen = new Set<string>();

  constructor(
    /** Dotted path of the section (`decision_logs.reporting`), for messages. */
    readonly path: string,
    private readonly section: Section,
  ) {}

  /** Reads a mapping (or absent/null), as a reader for its own keys. */
  static of(path: string, value: unknown): SectionReader {
    if (value === undefined || value === null) return new SectionReader(path, {});
    if (!isMapping(value)) throw new ConfigValueError(`${path} must be a mapping of keys, got ${describe(value)}`);
    return new SectionReader(path, value);
  }

  key(name: string): string {
    return `${this.path}.${name}`;
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  raw(name: string): unknown {
    this.seen.add(name);
    const v = this.section[name];
    return v === null ? undefined : v;
  }

  string(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    // Helm-style --set overrides type bare numbers and booleans; OPA's Go structs refuse those for strings too.
    if (typeof v !== 'string') throw new ConfigValueError(`${this.key(name)} must be a string, got ${describe(v)}`);
    return v;
  }

  boolean(name: string): boolean | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new ConfigValueError(`${this.key(name)} must be true or false, got ${describe(v)}`);
    return v;
  }

  integer(name: string): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ConfigValueError(`${this.key(name)} must be an integer, got ${describe(v)}`);
    return v;
  }

  number(name: string): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigValueError(`${this.key(name)} must be a number, got ${describe(v)}`);
    return v;
  }

  stringMap(name: string): Record<string, string> {
    const child = this.child(name);
    const out: Record<string, string> = {};
    for (const k of child.keys()) out[k] = child.string(k)!;
    return out;
  }

  stringList(name: string): string[] {
    const v = this.raw(name);
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ConfigValueError(`${this.key(name)} must be a list of strings, got ${describe(v)}`);
    return v as string[];
  }

  child(name: string): SectionReader {
    return SectionReader.of(this.key(name), this.raw(name));
  }

  keys(): string[] {
    return Object.keys(this.section).filter((k) => this.section[k] !== undefined);
  }

  /** Keys present in the section that no read asked for, as full dotted paths. */
  unread(): string[] {
    return this.keys()
      .filter((k) => !this.seen.has(k))
      .map((k) => this.key(k));
  }
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (isMapping(value)) return 'a mapping';
  return JSON.stringify(value) ?? String(value);
}
