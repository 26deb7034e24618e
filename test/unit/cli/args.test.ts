// Pure parsing of the client commands' command lines. Expected messages are pflag v1.0.6's and cobra's
// (checked by running pflag on the same arguments), Go's time.Duration texts are Go 1.26's.
import { describe, expect, it } from 'vitest';
import { goDurationString, parseArgs, UsageError, type FlagSpecs } from '../../../src/cli/args.js';
import { ageOf, renderVars, resolveKind, table } from '../../../src/cli/commands.js';

const SPECS: FlagSpecs = {
  file: { kind: 'string', short: 'f', help: '' },
  var: { kind: 'map', short: 'v', help: '' },
  'dry-run': { kind: 'bool', help: '' },
  'valid-for': { kind: 'duration', help: '' },
  group: { kind: 'list', help: '' },
  size: { kind: 'int', help: '' },
};

function usageError(argv: string[], specs: FlagSpecs = SPECS): string {
  try {
    parseArgs(argv, specs);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('parsed without error');
}

describe('parseArgs', () => {
  it('takes values inline, attached to a shorthand, or as the next word; lists and maps accumulate', () => {
    const args = parseArgs(['-fa.yaml', '--group', 'a,b', '--group=c', '-v', 'a=1,b=2', '-v', 'c=3', 'pos', '--', '--x'], SPECS);
    expect(args.strings.get('file')).toBe('a.yaml');
    expect(args.lists.get('group')).toEqual(['a', 'b', 'c']);
    expect(args.maps.get('var')).toEqual({ a: '1', b: '2', c: '3' });
    expect(args.positionals).toEqual(['pos', '--x']);
  });

  it('keeps a --var named "__proto__" as an ordinary key of the map', () => {
    const vars = parseArgs(['-v', '__proto__=x,a=1'], SPECS).maps.get('var')!;
    expect(Object.entries(vars)).toEqual([['__proto__', 'x'], ['a', '1']]);
    expect(renderVars('{{__proto__}}/{{a}}', vars)).toBe('x/1');
  });

  it('treats "-" as a value or a positional, and -f=- as the value "-"', () => {
    const args = parseArgs(['-f=-', '-'], SPECS);
    expect(args.strings.get('file')).toBe('-');
    expect(args.positionals).toEqual(['-']);
  });

  it('reads --valid-for as a Go duration in nanoseconds', () => {
    expect(parseArgs(['--valid-for=24h'], SPECS).durations.get('valid-for')).toBe(86_400_000_000_000n);
  });

  it('sets booleans bare or with a ParseBool spelling (--dry-run=false clears)', () => {
    expect(parseArgs(['--dry-run'], SPECS).bools.has('dry-run')).toBe(true);
    expect(parseArgs(['--dry-run', '--dry-run=false'], SPECS).bools.has('dry-run')).toBe(false);
    expect(parseArgs(['--dry-run=T'], SPECS).bools.has('dry-run')).toBe(true);
  });

  it('reports --help without checking required flags', () => {
    expect(parseArgs(['-h'], { name: { kind: 'string', required: true, help: '' } }).help).toBe(true);
  });

  it('refuses an unknown long flag (--bogus)', () => {
    expect(usageError(['--bogus'])).toBe('unknown flag: --bogus');
  });

  it('refuses an unknown shorthand (-x)', () => {
    expect(usageError(['-x'])).toBe("unknown shorthand flag: 'x' in -x");
  });

  it('refuses a flag missing its value (-f, --file at the end)', () => {
    expect(usageError(['-f'])).toBe("flag needs an argument: 'f' in -f");
    expect(usageError(['--file'])).toBe('flag needs an argument: --file');
  });

  it('refuses a bad duration (--valid-for=24x, --valid-for "")', () => {
    expect(usageError(['--valid-for=24x'])).toBe('invalid argument "24x" for "--valid-for" flag: time: unknown unit "x" in duration "24x"');
    expect(usageError(['--valid-for', ''])).toBe('invalid argument "" for "--valid-for" flag: time: invalid duration ""');
  });

  it('refuses a map entry without "=" (-v novalue)', () => {
    expect(usageError(['-v', 'novalue'])).toBe('invalid argument "novalue" for "-v, --var" flag: novalue must be formatted as key=value');
  });

  it('refuses a non-boolean (--dry-run=maybe) and a non-integer (--size=abc)', () => {
    expect(usageError(['--dry-run=maybe'])).toBe('invalid argument "maybe" for "--dry-run" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
    expect(usageError(['--size=abc'])).toBe('invalid argument "abc" for "--size" flag: strconv.ParseInt: parsing "abc": invalid syntax');
  });

  it('names every missing required flag as cobra does (apply without -f; user-token without --name, --valid-for)', () => {
    expect(usageError([], { file: { kind: 'string', short: 'f', required: true, help: '' } })).toBe('required flag(s) "file" not set');
    const token: FlagSpecs = { name: { kind: 'string', required: true, help: '' }, 'valid-for': { kind: 'duration', required: true, help: '' } };
    expect(usageError([], token)).toBe('required flag(s) "name", "valid-for" not set');
  });
});

describe('goDurationString', () => {
  it.each([
    [86_400_000_000_000n, '24h0m0s'],
    [5_400_000_000_000n, '1h30m0s'],
    [1_500_000_000n, '1.5s'],
    [300_000_000n, '300ms'],
    [1_500_000n, '1.5ms'],
    [42n, '42ns'],
    [-123_000_000_000n, '-2m3s'],
    [0n, '0s'],
    [3_600_500_000_000n, '1h0m0.5s'],
  ])('%s ns is %s, as Go prints it', (ns, text) => {
    expect(goDurationString(ns)).toBe(text);
  });
});

describe('resolveKind', () => {
  it('accepts the path, the singular and the type name in any case', () => {
    for (const name of ['opapolicies', 'opapolicy', 'OPAPolicy', 'OPAPOLICIES']) expect(resolveKind(name).type).toBe('OPAPolicy');
    for (const name of ['access-roles', 'access-role', 'AccessRole']) expect(resolveKind(name).type).toBe('AccessRole');
    expect(resolveKind('access-role-binding').path).toBe('access-role-bindings');
    expect(resolveKind('GLOBAL-SECRET').scope).toBe('global');
  });

  it('refuses an unknown type (trafficpermissions) listing the known ones', () => {
    expect(() => resolveKind('trafficpermissions')).toThrow(UsageError);
    expect(() => resolveKind('trafficpermissions')).toThrow(
      'unknown TYPE: trafficpermissions. Allowed values: access-role, access-role-binding, access-role-bindings, access-roles, global-secret, global-secrets, opapolicies, opapolicy, secret, secrets',
    );
  });
});

describe('output helpers', () => {
  it("lays out a table as Go's tabwriter does for kumactl (padding 3, last column unpadded)", () => {
    // Go 1.26 text/tabwriter.NewWriter(out, 1, 0, 3, ' ', 0) on the same rows.
    expect(table(['MESH', 'NAME', 'AGE'], [['default', 'a-long-policy-name', '5m'], ['other', 'p', '2d']])).toBe(
      'MESH      NAME                 AGE\ndefault   a-long-policy-name   5m\nother     p                    2d\n',
    );
    // kumactl's control-planes list golden file: an empty ACTIVE cell still takes its width.
    expect(table(['ACTIVE', 'NAME', 'ADDRESS'], [['*', 'test1', 'https://test1.internal:5681'], ['', 'test2', 'https://test2.internal:5681']])).toBe(
      'ACTIVE   NAME    ADDRESS\n*        test1   https://test1.internal:5681\n         test2   https://test2.internal:5681\n',
    );
  });

  it("words ages as kumactl's table.Duration", () => {
    expect(ageOf(59_999)).toBe('59s');
    expect(ageOf(60_000)).toBe('1m');
    expect(ageOf(3 * 3600_000)).toBe('3h');
    expect(ageOf(49 * 3600_000)).toBe('2d');
    expect(ageOf(2 * 365 * 24 * 3600_000)).toBe('2y');
    expect(ageOf(-500)).toBe('0s');
    expect(ageOf(-5000)).toBe('never');
  });

  it('substitutes --var values into mustache tags, dotted keys included, and empties unknown tags', () => {
    expect(renderVars('address: {{address}}\nport: {{ net.port }}\nx: "{{{raw}}}"\ny: {{missing}}', { address: '2.2.2.2', 'net.port': '80', raw: 'a&b' })).toBe(
      'address: 2.2.2.2\nport: 80\nx: "a&b"\ny: ',
    );
  });

  it('empties tags naming inherited object keys ({{constructor}}, {{toString}}) when no such --var is given', () => {
    expect(renderVars('a: {{constructor}}\nb: {{toString}}', {})).toBe('a: \nb: ');
  });
});
