// semver.* builtins with the parser of Go OPA's internal/semver (a leading "v" is allowed,
// numbers are Go ParseInt decimals, so "+1" and "01" are accepted).
import { BuiltinError, INT64_MAX, INT64_MIN, stringOperand, type BuiltinFn } from './values.js';

interface Version {
  major: bigint;
  minor: bigint;
  patch: bigint;
  preRelease: string;
}

const IDENTIFIERS = /^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/;
const GO_DECIMAL = /^[+-]?\d+$/;

function cut(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function parseInt64(s: string): bigint | undefined {
  if (!GO_DECIMAL.test(s)) return undefined;
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

export function parseSemver(text: string): Version | undefined {
  const noV = text.startsWith('v') ? text.slice(1) : text;
  const [rest, metadata] = cut(noV, '+');
  if (metadata !== '' && !IDENTIFIERS.test(metadata)) return undefined;
  const [core, preRelease] = cut(rest, '-');
  if (preRelease !== '' && !IDENTIFIERS.test(preRelease)) return undefined;
  const parts = core.split('.');
  if (parts.length !== 3) return undefined;
  const [major, minor, patch] = parts.map(parseInt64);
  if (major === undefined || minor === undefined || patch === undefined) return undefined;
  return { major, minor, patch, preRelease };
}

function sign(a: bigint, b: bigint): number {
  return a > b ? 1 : a < b ? -1 : 0;
}

const ALL_DIGITS = /^\d+$/;

/** strconv.Atoi as the comparison uses it: 0 when the identifier overflows int64. */
function atoi(s: string): bigint {
  const v = BigInt(s);
  return v > INT64_MAX ? 0n : v;
}

function comparePreRelease(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return 1;
  if (b === '') return -1;
  const as = a.split('.');
  const bs = b.split('.');
  for (let i = 0; ; i++) {
    const x = as[i] ?? '';
    const y = bs[i] ?? '';
    if (x === '' && y !== '') return -1;
    if (x !== '' && y === '') return 1;
    const xNum = ALL_DIGITS.test(x);
    const yNum = ALL_DIGITS.test(y);
    if (xNum !== yNum) return xNum ? -1 : 1;
    const c = xNum ? sign(atoi(x), atoi(y)) : x > y ? 1 : x < y ? -1 : 0;
    if (c !== 0) return c;
    const xMore = i + 1 < as.length;
    const yMore = i + 1 < bs.length;
    if (xMore !== yMore) return xMore ? 1 : -1;
    if (!xMore) return 0;
  }
}

export function compareSemver(a: Version, b: Version): number {
  return sign(a.major, b.major) || sign(a.minor, b.minor) || sign(a.patch, b.patch) || comparePreRelease(a.preRelease, b.preRelease);
}

export const semverBuiltins: ReadonlyArray<readonly [string, BuiltinFn]> = [
  [
    'semver.compare',
    (a, b) => {
      const sa = stringOperand(a, 1);
      const sb = stringOperand(b, 2);
      const va = parseSemver(sa);
      if (va === undefined) throw new BuiltinError(`operand 1: string ${sa} is not a valid SemVer`);
      const vb = parseSemver(sb);
      if (vb === undefined) throw new BuiltinError(`operand 2: string ${sb} is not a valid SemVer`);
      return compareSemver(va, vb);
    },
  ],
  ['semver.is_valid', (v) => typeof v === 'string' && parseSemver(v) !== undefined],
];
