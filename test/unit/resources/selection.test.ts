// Selecting the OPAPolicy of a data plane. Matching follows Kuma's TagSelector.Matches (kumahq/kuma,
// pkg/core/resources/apis/mesh/dataplane_helpers.go): every selector tag must be present in the tag
// set and equal, or the selector's value is `*`. Dataplane checks follow Kuma's dataplane_validator.go.
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { identityFromDataplane, identityFromTags, selectPolicy, validateDataplane, type DataplaneIdentity } from '../../../src/resources/selection.js';
import type { Resource } from '../../../src/resources/types.js';
import { OPA_PAGE } from '../../helpers/seed-pages.js';

function policy(name: string, ...matches: Record<string, string>[]): Resource {
  return { type: 'OPAPolicy', mesh: 'default', name, selectors: matches.map((match) => ({ match })), conf: {} };
}

function id(...tagSets: Record<string, string>[]): DataplaneIdentity {
  return { mesh: 'default', tagSets };
}

const WEB = { 'kuma.io/service': 'web', 'kuma.io/protocol': 'http', version: 'v1' };

describe('the seed Dataplane', () => {
  it('validates and gives one tag set {kuma.io/service: web, kuma.io/protocol: http}', () => {
    const dp = parse(OPA_PAGE.dataplane) as Resource;
    expect(validateDataplane(dp)).toEqual([]);
    expect(identityFromDataplane(dp)).toEqual({ mesh: 'default', name: 'web', tagSets: [{ 'kuma.io/service': 'web', 'kuma.io/protocol': 'http' }] });
  });

  it('the seed OPAPolicy selector (kuma.io/service: *) selects it', () => {
    const selection = selectPolicy([policy('opa-1', { 'kuma.io/service': '*' })], identityFromDataplane(parse(OPA_PAGE.dataplane) as Resource));
    expect(selection).toMatchObject({ selectorIndex: 0, specificity: 0, candidates: [{ name: 'opa-1', specificity: 0 }] });
  });
});

describe('validateDataplane: bad Dataplanes', () => {
  const dp = (networking: unknown, extra: Record<string, unknown> = {}): Resource => ({ type: 'Dataplane', mesh: 'default', name: 'web', networking, ...extra });

  it('neither inbound nor gateway', () => {
    expect(validateDataplane(dp({ address: '10.0.0.1' }))).toEqual([{ field: 'networking', message: 'has to contain at least one inbound interface or gateway' }]);
  });

  it('both inbound and gateway', () => {
    const both = dp({ address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'a' } }], gateway: { tags: { 'kuma.io/service': 'g' } } });
    expect(validateDataplane(both)).toEqual([{ field: 'networking', message: 'inbound cannot be defined both with gateway' }]);
  });

  it('an inbound without kuma.io/service, with port 0, an empty tag value and no address', () => {
    expect(validateDataplane(dp({ inbound: [{ port: 0, tags: { version: '' } }] }))).toEqual([
      { field: 'networking.address', message: 'address has to be valid IP address or domain name' },
      { field: 'networking.inbound[0].port', message: 'port has to be in range of [1, 65535]' },
      { field: 'networking.inbound[0].tags["kuma.io/service"]', message: 'tag has to exist' },
      { field: 'networking.inbound[0].tags["version"]', message: 'tag value cannot be empty' },
    ]);
  });

  it('servicePort 70000 is out of range', () => {
    const bad = dp({ address: '10.0.0.1', inbound: [{ port: 80, servicePort: 70000, tags: { 'kuma.io/service': 'a' } }] });
    expect(validateDataplane(bad)).toEqual([{ field: 'networking.inbound[0].servicePort', message: 'servicePort has to be in range of [0, 65535]' }]);
  });

  it('a misspelt top-level key (networkin) and no networking', () => {
    expect(validateDataplane({ type: 'Dataplane', mesh: 'default', name: 'web', networkin: {} })).toEqual([
      { field: 'networkin', message: 'unknown field' },
      { field: 'networking', message: 'must be defined' },
    ]);
  });

  it('identityFromDataplane throws a ValidationError naming the Dataplane', () => {
    expect(() => identityFromDataplane(dp({ address: '10.0.0.1' }))).toThrow('networking: has to contain at least one inbound interface or gateway');
  });

  it('a gateway Dataplane gives its gateway tags', () => {
    const gw = dp({ address: '10.0.0.1', gateway: { tags: { 'kuma.io/service': 'edge' } } });
    expect(identityFromDataplane(gw).tagSets).toEqual([{ 'kuma.io/service': 'edge' }]);
  });
});

describe('identityFromTags', () => {
  it('reads name=value pairs separated by commas', () => {
    expect(identityFromTags('demo', 'kuma.io/service=web, version=v1')).toEqual({ mesh: 'demo', tagSets: [{ 'kuma.io/service': 'web', version: 'v1' }] });
  });

  it('names the bad pair: a pair without = (version)', () => {
    expect(() => identityFromTags('default', 'kuma.io/service=web,version')).toThrow('invalid tag "version"');
  });

  it('names the bad pair: an empty name (=v1) or empty value (version=)', () => {
    expect(() => identityFromTags('default', '=v1')).toThrow('invalid tag "=v1"');
    expect(() => identityFromTags('default', 'kuma.io/service=web,version=')).toThrow('invalid tag "version="');
  });

  it('refuses an empty text and a tag given twice with different values', () => {
    expect(() => identityFromTags('default', ' ')).toThrow('no tags given');
    expect(() => identityFromTags('default', 'version=v1,version=v2')).toThrow('tag "version" given twice');
  });
});

describe("selectPolicy: Kuma's TagSelector.Matches", () => {
  it('an exact value must be equal', () => {
    expect(selectPolicy([policy('p', { 'kuma.io/service': 'web' })], id(WEB))?.policy.name).toBe('p');
    expect(selectPolicy([policy('p', { 'kuma.io/service': 'backend' })], id(WEB))).toBeUndefined();
  });

  it('* needs the tag present: kuma.io/zone: * does not match a tag set without kuma.io/zone', () => {
    expect(selectPolicy([policy('p', { 'kuma.io/zone': '*' })], id(WEB))).toBeUndefined();
  });

  it('every tag of a selector must match in the same tag set', () => {
    const p = policy('p', { 'kuma.io/service': 'web', version: 'v2' });
    expect(selectPolicy([p], id(WEB, { 'kuma.io/service': 'api', version: 'v2' }))).toBeUndefined();
    expect(selectPolicy([p], id(WEB, { 'kuma.io/service': 'web', version: 'v2' }))?.policy.name).toBe('p');
  });

  it('a policy matches when any of its selectors matches any inbound', () => {
    const p = policy('p', { 'kuma.io/service': 'backend' }, { version: 'v1' });
    expect(selectPolicy([p], id(WEB))).toMatchObject({ selectorIndex: 1, specificity: 1 });
  });

  it('only policies of the identity mesh count', () => {
    const other = { ...policy('p', { 'kuma.io/service': '*' }), mesh: 'other' };
    expect(selectPolicy([other], id(WEB))).toBeUndefined();
  });

  it('resources other than OPAPolicy are ignored', () => {
    expect(selectPolicy([{ ...policy('p', { 'kuma.io/service': '*' }), type: 'Secret' }], id(WEB))).toBeUndefined();
  });
});

describe('selectPolicy: several matching policies', () => {
  it('the most specific matching selector wins; candidates list all, winner first', () => {
    const selection = selectPolicy(
      [policy('all', { 'kuma.io/service': '*' }), policy('web-v1', { 'kuma.io/service': 'web', version: 'v1' }), policy('web', { 'kuma.io/service': 'web', version: '*' })],
      id(WEB),
    );
    expect(selection?.policy.name).toBe('web-v1');
    expect(selection?.specificity).toBe(2);
    expect(selection?.candidates).toEqual([
      { name: 'web-v1', specificity: 2 },
      { name: 'web', specificity: 1 },
      { name: 'all', specificity: 0 },
    ]);
  });

  it("a policy's specificity is that of its best matching selector", () => {
    const p = policy('p', { 'kuma.io/service': '*' }, { 'kuma.io/service': 'web', version: 'v1' }, { 'kuma.io/service': 'api', version: 'v1', x: 'y' });
    expect(selectPolicy([p], id(WEB))).toMatchObject({ selectorIndex: 1, specificity: 2 });
  });

  it('ties go to the lexicographically smallest name (B before a: code-unit order)', () => {
    const ps = [policy('b', { 'kuma.io/service': 'web' }), policy('a', { version: 'v1' }), policy('B', { 'kuma.io/protocol': 'http' })];
    const selection = selectPolicy(ps, id(WEB));
    expect(selection?.policy.name).toBe('B');
    expect(selection?.candidates.map((c) => c.name)).toEqual(['B', 'a', 'b']);
  });
});

describe('selectPolicy without an identity', () => {
  it('only selectors whose values are all * match', () => {
    const ps = [policy('exact', { 'kuma.io/service': 'web' }), policy('any', { 'kuma.io/service': '*' }), policy('mixed', { 'kuma.io/service': '*', version: 'v1' })];
    const selection = selectPolicy(ps, undefined);
    expect(selection?.policy.name).toBe('any');
    expect(selection?.candidates).toEqual([{ name: 'any', specificity: 0 }]);
  });

  it('nothing matches when every policy names a value', () => {
    expect(selectPolicy([policy('exact', { 'kuma.io/service': 'web' })], undefined)).toBeUndefined();
  });
});
