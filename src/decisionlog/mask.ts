// Masking, as OPA's decision logger applies the rules of `system.log.mask`: a rule is a path
// ("/input/password": remove it) or {"op": "remove"|"upsert", "path": ..., "value": ...}. Paths start
// with input, result or nd_builtin_cache; removed paths are listed in `erased`, upserted ones in
// `masked`. A malformed rule fails the whole set (OPA then logs nothing for the decision); a rule whose
// path does not exist in the event is skipped silently.
import { goTypeName } from '../authz/gocompat/text.js';
import { Buffer } from 'node:buffer';
import { pathUnescape } from '../authz/gocompat/url.js';
import type { DecisionEvent } from './event.js';

export class MaskError extends Error {
  override readonly name = 'MaskError';
}

type MaskOp = 'remove' | 'upsert';
const MASKABLE = ['input', 'result', 'nd_builtin_cache'] as const;
type MaskPart = (typeof MASKABLE)[number];

export interface MaskRule {
  op: MaskOp;
  part: MaskPart;
  /** Path below the part, each segment url.PathEscape'd as OPA keeps them (and looks them up). */
  segments: string[];
  value: unknown;
  /** As listed in erased/masked: "/" + escaped segments. */
  text: string;
}

/** The mask policy's result as rules, in OPA's order (a Rego set iterates sorted). Throws MaskError. */
export function parseMaskRules(result: unknown): MaskRule[] {
  if (!Array.isArray(result)) throw new MaskError(`unexpected rule format ${goValueText(result)} (${goTypeName(result)})`);
  return [...result].sort(compareRego).map(parseRule);
}

function parseRule(raw: unknown): MaskRule {
  if (typeof raw === 'string') return newRule(raw, 'remove', undefined);
  if (!isObject(raw)) throw new MaskError(`invalid mask rule format encountered: ${goTypeName(raw)}`);
  const op = ruleString(raw, 'op');
  const path = ruleString(raw, 'path');
  if (op !== 'remove' && op !== 'upsert') {
    // OPA checks the path before the op.
    newRule(path, 'remove', undefined);
    throw new MaskError(`mask op is not supported: ${op}`);
  }
  return newRule(path, op, raw.value);
}

function ruleString(rule: Record<string, unknown>, key: string): string {
  if (!(key in rule)) return '';
  const v = rule[key];
  if (typeof v !== 'string' || v === '') throw new MaskError(`invalid "${key}" value: ${goValueText(v)} ${goTypeName(v)}`);
  return v;
}

function newRule(path: string, op: MaskOp, value: unknown): MaskRule {
  if (path === '') throw new MaskError('mask must be non-empty');
  if (!path.startsWith('/')) throw new MaskError('mask must be slash-prefixed');
  const parts = path.slice(1).split('/');
  const part = parts[0]!;
  if (!(MASKABLE as readonly string[]).includes(part)) throw new MaskError(`mask prefix not allowed: ${part}`);
  const escaped = parts.map((p) => {
    try {
      pathUnescape(p);
    } catch (err) {
      throw new MaskError((err as Error).message);
    }
    return pathEscape(p);
  });
  return { op, part: part as MaskPart, segments: escaped.slice(1), value: value === undefined ? null : value, text: `/${escaped.join('/')}` };
}

/**
 * Applies the rules to the event in order. The event's input and result are deep-copied before the
 * first rule that changes them: the decision record they came from belongs to the caller.
 */
export function applyMaskRules(rules: readonly MaskRule[], event: DecisionEvent): void {
  const copied = new Set<MaskPart>();
  for (const rule of rules) {
    // Events carry no nd_builtin_cache, so rules for it never apply.
    if (rule.part === 'nd_builtin_cache') continue;
    const part = rule.part;
    if (event[part] === undefined) continue;
    if (!copied.has(part)) {
      event[part] = structuredClone(event[part]);
      copied.add(part);
    }
    if (rule.op === 'remove') removeRule(rule, event, part);
    else upsertRule(rule, event, part);
  }
}

function removeRule(rule: MaskRule, event: DecisionEvent, part: 'input' | 'result'): void {
  if (rule.segments.length === 0) event[part] = undefined;
  else if (!removeValue(event[part], rule.segments)) return;
  (event.erased ??= []).push(rule.text);
}

function upsertRule(rule: MaskRule, event: DecisionEvent, part: 'input' | 'result'): void {
  if (rule.segments.length === 0) {
    event[part] = rule.value;
  } else {
    const root = event[part];
    if (!isObject(root) || !upsertValue(root, rule.segments, rule.value)) return;
  }
  (event.masked ??= []).push(rule.text);
}

/** Deletes the member or array element at the path; false when the path does not exist. */
function removeValue(root: unknown, path: readonly string[]): boolean {
  let node = root;
  let parent: unknown;
  for (const seg of path.slice(0, -1)) {
    const child = childOf(node, seg);
    if (child === NOT_FOUND) return false;
    parent = node;
    node = child;
  }
  const target = path[path.length - 1]!;
  if (Array.isArray(node)) {
    // OPA re-slices the array through its parent, so an array at the top cannot lose elements.
    const index = arrayIndex(target, node.length);
    if (index < 0 || parent === undefined) return false;
    node.splice(index, 1);
    return true;
  }
  if (!isObject(node) || !Object.hasOwn(node, target)) return false;
  delete node[target];
  return true;
}

/** Sets the value at the path, creating missing objects on the way; false when the path cannot be made. */
function upsertValue(root: Record<string, unknown>, path: readonly string[], value: unknown): boolean {
  let node: unknown = root;
  for (const seg of path.slice(0, -1)) {
    if (isObject(node)) {
      if (!Object.hasOwn(node, seg)) node[seg] = {};
      node = node[seg];
    } else if (Array.isArray(node)) {
      // OPA grows a copy of a too-short array and so never writes through it: only existing elements work.
      const index = arrayIndex(seg, node.length);
      if (index < 0) return false;
      node = node[index];
    } else {
      return false;
    }
  }
  const last = path[path.length - 1]!;
  if (isObject(node)) {
    node[last] = value;
    return true;
  }
  if (Array.isArray(node)) {
    const index = arrayIndex(last, node.length);
    if (index < 0) return false;
    node[index] = value;
    return true;
  }
  return false;
}

const NOT_FOUND = Symbol('not found');

function childOf(node: unknown, seg: string): unknown {
  if (isObject(node)) return Object.hasOwn(node, seg) ? node[seg] : NOT_FOUND;
  if (Array.isArray(node)) {
    const index = arrayIndex(seg, node.length);
    return index < 0 ? NOT_FOUND : node[index];
  }
  return NOT_FOUND;
}

/** strconv.Atoi within [0, length); -1 otherwise. */
function arrayIndex(seg: string, length: number): number {
  if (!/^[+-]?\d+$/.test(seg)) return -1;
  const n = Number(seg);
  return n >= 0 && n < length ? n : -1;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// url.PathEscape leaves these bytes alone; everything else becomes %XX.
const PATH_SEGMENT_SAFE = /^[A-Za-z0-9\-_.~$&+:=@]*$/;
const PATH_SEGMENT_SAFE_BYTE = /[A-Za-z0-9\-_.~$&+:=@]/;

/** Go's url.PathEscape. */
export function pathEscape(s: string): string {
  if (PATH_SEGMENT_SAFE.test(s)) return s;
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && PATH_SEGMENT_SAFE_BYTE.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const TYPE_RANK = { null: 0, boolean: 1, number: 2, string: 3, array: 4, object: 5 } as const;

function rank(v: unknown): number {
  if (v === null || v === undefined) return TYPE_RANK.null;
  if (Array.isArray(v)) return TYPE_RANK.array;
  const t = typeof v;
  return t === 'boolean' || t === 'number' || t === 'string' ? TYPE_RANK[t] : TYPE_RANK.object;
}

/** OPA's ordering of values (ast.Compare) for JSON values: by type, then by content. */
export function compareRego(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'boolean' || typeof a === 'number' || typeof a === 'string') {
    return a === b ? 0 : (a as number | string | boolean) < (b as number | string | boolean) ? -1 : 1;
  }
  if (Array.isArray(a)) return compareSequences(a, b as unknown[]);
  if (ra === TYPE_RANK.null) return 0;
  return compareObjects(a as Record<string, unknown>, b as Record<string, unknown>);
}

function compareSequences(a: readonly unknown[], b: readonly unknown[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareRego(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function compareObjects(a: Record<string, unknown>, b: Record<string, unknown>): number {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const c = compareRego(ka[i], kb[i]) || compareRego(a[ka[i]!], b[kb[i]!]);
    if (c !== 0) return c;
  }
  return ka.length - kb.length;
}

/** Roughly Go's %v of a decoded JSON value: scalars as themselves, containers as JSON. */
function goValueText(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

