// Which OPAPolicy applies to this agent's data plane: Kuma's tag selectors, the Dataplane resource that
// carries the tags (Universal form), and the choice between several matching policies.
import { ValidationError, type FieldViolation, type Resource } from './types.js';

/** Kuma's wildcard tag value: the tag must be present, with any value. */
const MATCH_ALL = '*';
const SERVICE_TAG = 'kuma.io/service';
/** Fields Kuma's REST API shows beside every resource's spec; writing them back is not an error. */
export const META_FIELDS: readonly string[] = ['type', 'mesh', 'name', 'creationTime', 'modificationTime', 'labels'];
const DATAPLANE_FIELDS = new Set([...META_FIELDS, 'networking', 'metrics', 'probes']);
const SELECTOR_FIELDS = new Set(['match']);
const MAX_PORT = 65535;

export interface DataplaneIdentity {
  mesh: string;
  name?: string;
  /** One tag set per inbound (and gateway). */
  tagSets: Record<string, string>[];
}

export interface Selection {
  policy: Resource;
  selectorIndex: number;
  specificity: number;
  /** Every matching policy with its specificity, the winner first. */
  candidates: { name: string; specificity: number }[];
}

type Tags = Record<string, string>;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `match["kuma.io/service"]`, as Kuma prints a map key in a field path. */
function keyPath(path: string, key: string): string {
  return `${path}[${JSON.stringify(key)}]`;
}

export function unknownFields(value: Record<string, unknown>, allowed: ReadonlySet<string>, path: string): FieldViolation[] {
  return Object.keys(value)
    .filter((key) => !allowed.has(key))
    .map((key) => ({ field: path ? `${path}.${key}` : key, message: 'unknown field' }));
}

/** Kuma's ValidateSelectors with at least one selector, each with at least one tag (messages as Kuma's). */
export function validateSelectors(value: unknown, path: string): FieldViolation[] {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return [{ field: path, message: 'must have at least one element' }];
  if (!Array.isArray(value)) return [{ field: path, message: 'must be a list of selectors' }];
  return value.flatMap((selector, i) => validateSelector(selector, `${path}[${i}]`));
}

function validateSelector(selector: unknown, path: string): FieldViolation[] {
  if (!isRecord(selector)) return [{ field: path, message: 'must be an object with a match' }];
  const out = unknownFields(selector, SELECTOR_FIELDS, path);
  const matchPath = `${path}.match`;
  const match = selector.match;
  if (match === undefined || (isRecord(match) && Object.keys(match).length === 0)) {
    out.push({ field: matchPath, message: 'must have at least one tag' });
  } else if (!isRecord(match)) {
    out.push({ field: matchPath, message: 'must be a map of tag names to values' });
  } else {
    for (const [key, tagValue] of Object.entries(match).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (key === '') out.push({ field: matchPath, message: 'tag key must be non-empty' });
      if (typeof tagValue !== 'string') out.push({ field: keyPath(matchPath, key), message: 'tag value must be a string' });
      else if (tagValue === '') out.push({ field: keyPath(matchPath, key), message: 'tag value must be non-empty' });
    }
  }
  return out;
}

/** A Kuma Dataplane in Universal form, checked for what selection reads (messages as Kuma's validator). */
export function validateDataplane(r: Resource): FieldViolation[] {
  const out = unknownFields(r, DATAPLANE_FIELDS, '');
  const networking = r.networking;
  if (!isRecord(networking)) return [...out, { field: 'networking', message: 'must be defined' }];
  const { inbound, gateway, address } = networking;
  const inbounds = Array.isArray(inbound) ? inbound : [];
  if (inbound !== undefined && !Array.isArray(inbound)) out.push({ field: 'networking.inbound', message: 'must be a list' });
  if (inbounds.length === 0 && gateway === undefined) {
    out.push({ field: 'networking', message: 'has to contain at least one inbound interface or gateway' });
  }
  if (inbounds.length > 0 && gateway !== undefined) out.push({ field: 'networking', message: 'inbound cannot be defined both with gateway' });
  if (typeof address !== 'string' || address === '') {
    out.push({ field: 'networking.address', message: 'address has to be valid IP address or domain name' });
  }
  inbounds.forEach((entry, i) => out.push(...validateInbound(entry, `networking.inbound[${i}]`)));
  if (gateway !== undefined) out.push(...validateGateway(gateway, 'networking.gateway'));
  return out;
}

function validateInbound(inbound: unknown, path: string): FieldViolation[] {
  if (!isRecord(inbound)) return [{ field: path, message: 'must be an object' }];
  const out: FieldViolation[] = [];
  if (!isPort(inbound.port, 1)) out.push({ field: `${path}.port`, message: 'port has to be in range of [1, 65535]' });
  if (inbound.servicePort !== undefined && !isPort(inbound.servicePort, 0)) {
    out.push({ field: `${path}.servicePort`, message: 'servicePort has to be in range of [0, 65535]' });
  }
  return [...out, ...validateDataplaneTags(inbound.tags, `${path}.tags`)];
}

function validateGateway(gateway: unknown, path: string): FieldViolation[] {
  if (!isRecord(gateway)) return [{ field: path, message: 'must be an object' }];
  return validateDataplaneTags(gateway.tags, `${path}.tags`);
}

function validateDataplaneTags(tags: unknown, path: string): FieldViolation[] {
  if (tags !== undefined && !isRecord(tags)) return [{ field: path, message: 'must be a map of tag names to values' }];
  const entries = Object.entries(tags ?? {});
  const out: FieldViolation[] = [];
  if (!entries.some(([key]) => key === SERVICE_TAG)) out.push({ field: keyPath(path, SERVICE_TAG), message: 'tag has to exist' });
  for (const [key, value] of entries) {
    if (typeof value !== 'string') out.push({ field: keyPath(path, key), message: 'tag value must be a string' });
    else if (value === '') out.push({ field: keyPath(path, key), message: 'tag value cannot be empty' });
  }
  return out;
}

function isPort(value: unknown, min: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= MAX_PORT;
}

/** The tags a Dataplane serves under: one set per inbound, or its gateway's. Throws ValidationError. */
export function identityFromDataplane(r: Resource): DataplaneIdentity {
  const violations = validateDataplane(r);
  if (violations.length > 0) throw new ValidationError(violations, `Dataplane "${r.name}" is not valid`);
  const networking = r.networking as { inbound?: { tags: Tags }[]; gateway?: { tags: Tags } };
  const tagSets = [...(networking.inbound ?? []).map((i) => ({ ...i.tags })), ...(networking.gateway ? [{ ...networking.gateway.tags }] : [])];
  return { mesh: r.mesh ?? 'default', name: r.name, tagSets };
}

/** `kuma.io/service=web,version=v1` as one tag set: for an agent told its tags instead of its Dataplane. */
export function identityFromTags(mesh: string, text: string): DataplaneIdentity {
  const tags: Tags = {};
  const pairs = text.split(',').map((p) => p.trim());
  if (pairs.every((p) => p === '')) throw new Error('no tags given: expected name=value pairs separated by commas');
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? '' : pair.slice(0, eq).trim();
    const value = eq === -1 ? '' : pair.slice(eq + 1).trim();
    if (name === '' || value === '') throw new Error(`invalid tag ${JSON.stringify(pair)} in ${JSON.stringify(text)}: expected name=value`);
    if (tags[name] !== undefined && tags[name] !== value) {
      throw new Error(`tag ${JSON.stringify(name)} given twice with different values in ${JSON.stringify(text)}`);
    }
    tags[name] = value;
  }
  return { mesh, tagSets: [tags] };
}

/** Kuma's TagSelector.Matches: every selector tag present in the set, equal or selected by `*`. */
function matches(selector: Tags, tags: Tags): boolean {
  return Object.entries(selector).every(([key, value]) => Object.hasOwn(tags, key) && (value === MATCH_ALL || tags[key] === value));
}

function specificityOf(selector: Tags): number {
  return Object.values(selector).filter((v) => v !== MATCH_ALL).length;
}

/**
 * Without an identity the agent does not know its tags, so it cannot tell whether a tag is present:
 * only selectors made of `*` alone ("any data plane") can be assumed to apply.
 */
function matchesUnknown(selector: Tags): boolean {
  return Object.values(selector).every((v) => v === MATCH_ALL);
}

/** A stored policy's selectors; malformed entries (never stored: validated on write) match nothing. */
function selectorsOf(policy: Resource): (Tags | undefined)[] {
  if (!Array.isArray(policy.selectors)) return [];
  return policy.selectors.map((s: unknown) => {
    const match = isRecord(s) ? s.match : undefined;
    return isRecord(match) && Object.values(match).every((v) => typeof v === 'string') ? (match as Tags) : undefined;
  });
}

/** The matching selector of highest specificity (the first of equals), or undefined. */
function bestSelector(policy: Resource, id: DataplaneIdentity | undefined): { index: number; specificity: number } | undefined {
  let best: { index: number; specificity: number } | undefined;
  selectorsOf(policy).forEach((selector, index) => {
    if (!selector) return;
    const hit = id ? id.tagSets.some((tags) => matches(selector, tags)) : matchesUnknown(selector);
    const specificity = specificityOf(selector);
    if (hit && (!best || specificity > best.specificity)) best = { index, specificity };
  });
  return best;
}

/**
 * The OPAPolicy for a data plane. Kong Mesh allows one; several may match here, and the most specific
 * matching selector wins, ties going to the lexicographically smallest name so that every agent of the
 * mesh picks the same one. Only policies of `id.mesh` count; without an identity, the caller passes
 * the policies of the agent's mesh and only all-`*` selectors match.
 */
export function selectPolicy(policies: readonly Resource[], id: DataplaneIdentity | undefined): Selection | undefined {
  const ranked = policies
    .filter((p) => p.type === 'OPAPolicy' && (!id || (p.mesh ?? 'default') === id.mesh))
    .flatMap((policy) => {
      const best = bestSelector(policy, id);
      return best ? [{ policy, ...best }] : [];
    })
    .sort((a, b) => b.specificity - a.specificity || (a.policy.name < b.policy.name ? -1 : a.policy.name > b.policy.name ? 1 : 0));
  const [winner] = ranked;
  if (!winner) return undefined;
  return {
    policy: winner.policy,
    selectorIndex: winner.index,
    specificity: winner.specificity,
    candidates: ranked.map((c) => ({ name: c.policy.name, specificity: c.specificity })),
  };
}
