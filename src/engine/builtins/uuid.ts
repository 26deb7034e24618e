// uuid.rfc4122 (a random v4 UUID, stable per key within one evaluation) and uuid.parse.
import { randomUUID } from 'node:crypto';
import { integerResult, regoString, stringOperand, type BuiltinFn, type ResultObject } from './values.js';

/** Per-evaluation UUIDs: the same key yields the same UUID until the next evaluation starts. */
export class UuidState {
  private readonly byKey = new Map<string, string>();

  get(key: string): string {
    let v = this.byKey.get(key);
    if (v === undefined) {
      v = randomUUID();
      this.byKey.set(key, v);
    }
    return v;
  }

  reset(): void {
    this.byKey.clear();
  }
}

const HEX_PAIR = /^[0-9a-fA-F]{2}$/;
const BYTE_OFFSETS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/** google/uuid's Parse: plain, "urn:uuid:", braced or 32 hex digit forms. */
function parseUuid(input: string): Buffer | undefined {
  let s = input;
  if (s.length === 32) {
    if (!/^[0-9a-fA-F]{32}$/.test(s)) return undefined;
    return Buffer.from(s, 'hex');
  }
  if (s.length === 45) {
    if (s.slice(0, 9).toLowerCase() !== 'urn:uuid:') return undefined;
    s = s.slice(9);
  } else if (s.length === 38) {
    s = s.slice(1);
  } else if (s.length !== 36) {
    return undefined;
  }
  if (s.charAt(8) !== '-' || s.charAt(13) !== '-' || s.charAt(18) !== '-' || s.charAt(23) !== '-') return undefined;
  const pairs = BYTE_OFFSETS.map((x) => s.slice(x, x + 2));
  if (!pairs.every((p) => HEX_PAIR.test(p))) return undefined;
  return Buffer.from(pairs.join(''), 'hex');
}

function variantName(b8: number): string {
  if ((b8 & 0xc0) === 0x80) return 'RFC4122';
  if ((b8 & 0xe0) === 0xc0) return 'Microsoft';
  if ((b8 & 0xe0) === 0xe0) return 'Future';
  return 'Reserved';
}

function macVariables(first: number): string {
  if ((first & 0b11) === 0b11) return 'local:multicast';
  if ((first & 0b01) === 0b01) return 'global:multicast';
  if ((first & 0b10) === 0b10) return 'local:unicast';
  return 'global:unicast';
}

const DOMAINS = ['Person', 'Group', 'Org'];
// 100ns intervals between the Gregorian reform (1582-10-15) and the Unix epoch.
const GREGORIAN_TO_UNIX_100NS = 122192928000000000n;

function describe(u: Buffer): ResultObject {
  const version = (u[6] ?? 0) >> 4;
  const out: ResultObject = { version, variant: variantName(u[8] ?? 0) };
  if (version !== 1 && version !== 2) return out;
  const time = BigInt(u.readUInt32BE(0)) | (BigInt(u.readUInt16BE(4)) << 32n) | (BigInt(u.readUInt16BE(6) & 0xfff) << 48n);
  out['time'] = integerResult((time - GREGORIAN_TO_UNIX_100NS) * 100n);
  const node = u.subarray(10, 16);
  out['nodeid'] = [...node].map((b) => b.toString(16).padStart(2, '0')).join('-');
  out['macvariables'] = macVariables(node[0] ?? 0);
  out['clocksequence'] = u.readUInt16BE(8) & 0x3fff;
  if (version === 2) {
    out['id'] = u.readUInt32BE(0);
    const domain = u[9] ?? 0;
    out['domain'] = DOMAINS[domain] ?? `Domain${domain}`;
  }
  return out;
}

export function uuidBuiltins(state: UuidState): Array<readonly [string, BuiltinFn]> {
  return [
    ['uuid.rfc4122', (k) => state.get(regoString(k ?? null))],
    [
      'uuid.parse',
      (s) => {
        const u = parseUuid(stringOperand(s, 1));
        return u === undefined ? undefined : describe(u);
      },
    ],
  ];
}
