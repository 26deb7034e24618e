// OPA's own configuration document: the file (YAML or JSON, ${VAR} substitution as OPA does it) and the
// `--set` overrides applied over it (Helm strvals syntax, as OPA's `--set`).
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type ConfigDoc = Record<string, unknown>;

/** OPA replaces ${NAME} with the variable's value (empty when unset) before parsing. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => env[name.trim()] ?? '');
}

export function parseConfigText(text: string, origin: string, env: NodeJS.ProcessEnv): ConfigDoc {
  let doc: unknown;
  try {
    doc = parseYaml(substituteEnv(text, env)); // YAML 1.2 is a superset of JSON
  } catch (err) {
    throw new ConfigError(`${origin}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${origin}: the configuration must be a mapping of keys`);
  return doc as ConfigDoc;
}

export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv): Promise<ConfigDoc> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseConfigText(text, `config file ${path}`, env);
}

type PathSegment = string | number;

export interface Override {
  path: PathSegment[];
  value: unknown;
  /** The pair as written, for error messages. */
  text: string;
}

/**
 * Parses `a.b=1,services[0].url=http://x,c={x,y}` as OPA's --set does. Kong Mesh's own examples write
 * `config1:x,config2:y`, so a pair without `=` is split at its first `:` instead.
 */
export function parseOverrides(text: string): Override[] {
  const out: Override[] = [];
  for (const pair of splitTopLevel(text, ',')) {
    if (pair.trim() === '') continue;
    const eq = indexOfUnescaped(pair, '=');
    const sep = eq !== -1 ? eq : indexOfUnescaped(pair, ':');
    if (sep <= 0) throw new ConfigError(`override ${JSON.stringify(pair)} is not key=value`);
    const key = pair.slice(0, sep).trim();
    const raw = pair.slice(sep + 1);
    out.push({ path: parseKeyPath(key, pair), value: parseOverrideValue(raw), text: pair });
  }
  return out;
}

function splitTopLevel(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      current += c + text[++i]!;
      continue;
    }
    if (c === '{') depth++;
    if (c === '}') depth = Math.max(0, depth - 1);
    if (c === sep && depth === 0) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function indexOfUnescaped(text: string, ch: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === ch) return i;
  }
  return -1;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

function parseKeyPath(key: string, pair: string): PathSegment[] {
  const path: PathSegment[] = [];
  for (const part of key.split(/(?<!\\)\./)) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m || (m[1] === '' && path.length === 0)) throw new ConfigError(`override ${JSON.stringify(pair)} has a bad key ${JSON.stringify(key)}`);
    if (m[1] !== '') path.push(unescape(m[1]!));
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) path.push(Number(idx[1]));
  }
  return path;
}

/** Helm's typed values: true/false, null, integers without a leading zero; {a,b} is a list; else a string. */
function parseOverrideValue(raw: string): unknown {
  const v = raw.trim();
  if (v.startsWith('{') && v.endsWith('}')) return splitTopLevel(v.slice(1, -1), ',').map((s) => parseOverrideValue(s));
  if (v.toLowerCase() === 'true') return true;
  if (v.toLowerCase() === 'false') return false;
  if (v === 'null') return null;
  if (/^-?(0|[1-9]\d*)$/.test(v) && Number.isSafeInteger(Number(v))) return Number(v);
  return unescape(v);
}

/** Applies overrides over a copy of the document. */
export function applyOverrides(doc: ConfigDoc, overrides: readonly Override[]): ConfigDoc {
  const root = structuredClone(doc) as Record<string, unknown>;
  for (const o of overrides) {
    let node: Record<string | number, unknown> = root;
    for (let i = 0; i < o.path.length - 1; i++) {
      const seg = o.path[i]!;
      const nextIsIndex = typeof o.path[i + 1] === 'number';
      let next = node[seg];
      if (typeof next !== 'object' || next === null) {
        next = nextIsIndex ? [] : {};
        node[seg] = next;
      }
      node = next as Record<string | number, unknown>;
    }
    node[o.path[o.path.length - 1]!] = o.value;
  }
  return root;
}
