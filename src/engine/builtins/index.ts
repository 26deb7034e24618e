// The host builtins table: every builtin an `opa build -t wasm` policy imports from its host
// (Go OPA 1.19.1 semantics), one instance per loaded policy so that caches and per-evaluation
// state are never shared between policies.
import { cryptoBuiltins } from './crypto.js';
import { encodingBuiltins } from './encoding.js';
import { JwtKeyCache, jwtBuiltins } from './jwt.js';
import { sprintfBuiltins } from './sprintf.js';
import { semverBuiltins } from './semver.js';
import { EvaluationClock, systemNowNs, timeBuiltins, ZoneCache } from './time.js';
import { unitsBuiltins } from './units.js';
import { UuidState, uuidBuiltins } from './uuid.js';
import type { BuiltinFn } from './values.js';
import { yamlBuiltins } from './yaml.js';

export { BuiltinError, type BuiltinFn, type BuiltinResult, type BuiltinValue } from './values.js';

export interface HostBuiltins {
  /** name (e.g. "io.jwt.decode_verify") -> implementation */
  readonly table: ReadonlyMap<string, BuiltinFn>;
  /** Called by the engine before each evaluation: per-query state (time.now_ns value, uuid.rfc4122 per-seed values) resets here. */
  startEvaluation(): void;
}

/** One instance per loaded policy: caches (imported keys, HMAC key objects, parsed JWKS) live on it, nothing module-global that two agents could share. */
export function createHostBuiltins(options?: { now?: () => bigint }): HostBuiltins {
  const clock = new EvaluationClock(options?.now ?? systemNowNs());
  const uuids = new UuidState();
  const table = new Map<string, BuiltinFn>([
    ...jwtBuiltins(new JwtKeyCache(), () => clock.now()),
    ...timeBuiltins(clock, new ZoneCache()),
    ...cryptoBuiltins,
    ...encodingBuiltins,
    ...yamlBuiltins,
    ...sprintfBuiltins,
    ...unitsBuiltins,
    ...semverBuiltins,
    ...uuidBuiltins(uuids),
  ]);
  return {
    table,
    startEvaluation(): void {
      clock.reset();
      uuids.reset();
    },
  };
}

/** Every builtin name this module implements (for the load-time "missing builtin" check). */
export const HOST_BUILTIN_NAMES: ReadonlySet<string> = new Set(createHostBuiltins({ now: () => 0n }).table.keys());
