// time.* builtins. time.now_ns is one value per evaluation (Go OPA's bctx.Time), also used by
// io.jwt.decode_verify when no "time" constraint is given.
import {
  addDate,
  daysIn,
  formatTime,
  fromUnixNano,
  IanaZone,
  LONG_DAY_NAMES,
  parseGoDuration,
  parseTime,
  toUnixNano,
  UTC,
  wallClock,
  weekdayOf,
  type GoTime,
  type Zone,
} from './gotime.js';
import { roundedInt64 } from './numbers.js';
import {
  BuiltinError,
  exactInteger,
  INT64_MAX,
  INT64_MIN,
  integerResult,
  intOperand,
  isNumber,
  numberOperand,
  RegoNumber,
  stringOperand,
  type BuiltinFn,
  type BuiltinValue,
} from './values.js';

/** Wall-clock nanoseconds with sub-millisecond resolution: Date.now() anchored to the monotonic clock. */
export function systemNowNs(): () => bigint {
  let anchorWall = BigInt(Date.now()) * 1_000_000n;
  let anchorMono = process.hrtime.bigint();
  return () => {
    const now = anchorWall + (process.hrtime.bigint() - anchorMono);
    const wall = BigInt(Date.now()) * 1_000_000n;
    // Re-anchor when the wall clock was stepped (NTP, manual change) away from our reckoning.
    if (now - wall > 2_000_000n || wall - now > 2_000_000n) {
      anchorWall = wall;
      anchorMono = process.hrtime.bigint();
      return wall;
    }
    return now;
  };
}

/** The evaluation's "now": read once on first use, kept until the next evaluation starts. */
export class EvaluationClock {
  private current: bigint | undefined;
  constructor(private readonly source: () => bigint) {}

  now(): bigint {
    if (this.current === undefined) this.current = this.source();
    return this.current;
  }

  reset(): void {
    this.current = undefined;
  }
}

/** Loaded zones of one policy instance. */
export class ZoneCache {
  private static readonly MAX = 64;
  private readonly zones = new Map<string, Zone>();
  private localName: string | undefined;

  get(name: string): Zone {
    if (name === '' || name === 'UTC') return UTC;
    // Go's time.Local follows TZ (else /etc/localtime), which is also what ICU reports as the default zone.
    const key = name === 'Local' ? (this.localName ??= Intl.DateTimeFormat().resolvedOptions().timeZone) : name;
    if (key === 'UTC') return UTC;
    let zone = this.zones.get(key);
    if (zone === undefined) {
      zone = new IanaZone(key);
      if (this.zones.size < ZoneCache.MAX) this.zones.set(key, zone);
    }
    return zone;
  }
}

const ACCEPTED_LAYOUTS: ReadonlyMap<string, string> = new Map([
  ['ANSIC', 'Mon Jan _2 15:04:05 2006'],
  ['UnixDate', 'Mon Jan _2 15:04:05 MST 2006'],
  ['RubyDate', 'Mon Jan 02 15:04:05 -0700 2006'],
  ['RFC822', '02 Jan 06 15:04 MST'],
  ['RFC822Z', '02 Jan 06 15:04 -0700'],
  ['RFC850', 'Monday, 02-Jan-06 15:04:05 MST'],
  ['RFC1123', 'Mon, 02 Jan 2006 15:04:05 MST'],
  ['RFC1123Z', 'Mon, 02 Jan 2006 15:04:05 -0700'],
  ['RFC3339', '2006-01-02T15:04:05Z07:00'],
  ['RFC3339Nano', '2006-01-02T15:04:05.999999999Z07:00'],
]);
const RFC3339 = '2006-01-02T15:04:05Z07:00';
const RFC3339_NANO = '2006-01-02T15:04:05.999999999Z07:00';

interface ZonedInput {
  time: GoTime;
  layout: string;
}

const TZ_OPERAND = 'either number (ns) or [number (ns), string (tz)]';

function nanosOperand(v: BuiltinValue | undefined): bigint {
  const n = numberOperand(v, 1);
  const i = n instanceof RegoNumber ? roundedInt64(n.text) : exactInteger(n);
  if (i === undefined || i < INT64_MIN || i > INT64_MAX) throw new BuiltinError('timestamp too big');
  return i;
}

/** Go OPA's tzTime: ns, [ns, tz] or [ns, tz, layout]. */
function zonedTime(v: BuiltinValue | undefined, zones: ZoneCache): ZonedInput {
  if (isNumber(v)) return { time: fromUnixNano(nanosOperand(v), UTC), layout: '' };
  if (!Array.isArray(v) || v.length === 0) throw new BuiltinError(`operand 1 must be ${TZ_OPERAND}`);
  const ns = nanosOperand(v[0]);
  const zone = v.length > 1 ? zones.get(stringOperand(v[1], 1)) : UTC;
  const layout = v.length > 2 ? stringOperand(v[2], 1) : '';
  return { time: fromUnixNano(ns, zone), layout };
}

function parseExtendedDuration(s: string): bigint {
  if (s === '') throw new BuiltinError('time: invalid duration ""');
  if (!/[dwy]/.test(s)) return parseGoDuration(s);
  return parseGoDuration(rewriteExtendedUnits(s));
}

const EXTENDED_HOURS: ReadonlyMap<string, number> = new Map([
  ['d', 24],
  ['w', 7 * 24],
  ['y', 365 * 24],
]);
// OPA's duration grammar: sign? (digits-and-dots unit)+ where unit is ms|us|µs|ns|[a-z].
const EXTENDED_SEGMENT = /([0-9.]+)(ms|us|µs|ns|[a-z])/y;

/** OPA rewrites d/w/y segments as hours ("1d2h" -> "24h2h") before Go's ParseDuration. */
function rewriteExtendedUnits(s: string): string {
  const sign = s.charAt(0) === '-' || s.charAt(0) === '+' ? s.charAt(0) : '';
  let out = sign;
  EXTENDED_SEGMENT.lastIndex = sign.length;
  let segments = 0;
  while (EXTENDED_SEGMENT.lastIndex < s.length) {
    const m = EXTENDED_SEGMENT.exec(s);
    if (m === null) throw new BuiltinError(`time: invalid duration ${JSON.stringify(s)}`);
    segments++;
    const [, digits = '', unit = ''] = m;
    const hours = EXTENDED_HOURS.get(unit);
    if (hours === undefined) {
      out += digits + unit;
      continue;
    }
    if (!/^(\d+\.?\d*|\.\d+)$/.test(digits)) throw new BuiltinError(`time: invalid duration ${JSON.stringify(s)}`);
    out += formatFloatFixed(Number(digits) * hours) + 'h';
  }
  if (segments === 0) throw new BuiltinError(`time: invalid duration ${JSON.stringify(s)}`);
  return out;
}

/** strconv.FormatFloat(x, 'f', -1, 64): shortest digits, never an exponent. */
function formatFloatFixed(x: number): string {
  const [mantissa = '0', expText = '0'] = x.toExponential().split('e');
  const digits = mantissa.replace('.', '').replace('-', '');
  const point = Number(expText) + 1;
  const sign = x < 0 ? '-' : '';
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** time.diff, after icza/gox: calendar difference of two instants read in the first one's zone. */
function timeDiff(a: GoTime, b: GoTime): number[] {
  const bInA = { ...b, zone: a.zone };
  const [first, second] = a.sec > bInA.sec || (a.sec === bInA.sec && a.nsec > bInA.nsec) ? [bInA, a] : [a, bInA];
  const w1 = wallClock(first);
  const w2 = wallClock(second);
  let year = w2.year - w1.year;
  let month = w2.month - w1.month;
  let day = w2.day - w1.day;
  let hour = w2.hour - w1.hour;
  let min = w2.minute - w1.minute;
  let sec = w2.second - w1.second;
  if (sec < 0) {
    sec += 60;
    min--;
  }
  if (min < 0) {
    min += 60;
    hour--;
  }
  if (hour < 0) {
    hour += 24;
    day--;
  }
  if (day < 0) {
    day += daysIn(w1.month, w1.year);
    month--;
  }
  if (month < 0) {
    month += 12;
    year--;
  }
  return [year, month, day, hour, min, sec];
}

function localZone(zones: ZoneCache): Zone {
  return zones.get('Local');
}

export function timeBuiltins(clock: EvaluationClock, zones: ZoneCache): Array<readonly [string, BuiltinFn]> {
  return [
    ['time.now_ns', () => integerResult(clock.now())],
    ['time.parse_rfc3339_ns', (v) => integerResult(toUnixNano(parseTime(RFC3339, stringOperand(v, 1), localZone(zones))))],
    [
      'time.parse_ns',
      (layout, v) => {
        const l = stringOperand(layout, 1);
        const value = stringOperand(v, 2);
        return integerResult(toUnixNano(parseTime(ACCEPTED_LAYOUTS.get(l) ?? l, value, localZone(zones))));
      },
    ],
    ['time.parse_duration_ns', (v) => integerResult(parseExtendedDuration(stringOperand(v, 1)))],
    [
      'time.format',
      (v) => {
        const { time, layout } = zonedTime(v, zones);
        return formatTime(time, layout === '' ? RFC3339_NANO : (ACCEPTED_LAYOUTS.get(layout) ?? layout));
      },
    ],
    [
      'time.date',
      (v) => {
        const w = wallClock(zonedTime(v, zones).time);
        return [w.year, w.month, w.day];
      },
    ],
    [
      'time.clock',
      (v) => {
        const w = wallClock(zonedTime(v, zones).time);
        return [w.hour, w.minute, w.second];
      },
    ],
    ['time.weekday', (v) => LONG_DAY_NAMES[weekdayOf(wallClock(zonedTime(v, zones).time).days)] ?? ''],
    [
      'time.add_date',
      (v, years, months, days) => {
        const { time } = zonedTime(v, zones);
        const [y, m, d] = [intOperand(years, 2), intOperand(months, 3), intOperand(days, 4)];
        // Anything this far off lands outside int64 nanoseconds whatever the calendar does.
        const limit = 1_000_000n;
        if (y > limit || y < -limit || m > 12n * limit || m < -12n * limit || d > 366n * limit || d < -366n * limit) {
          throw new BuiltinError('time outside of valid range');
        }
        return integerResult(toUnixNano(addDate(time, Number(y), Number(m), Number(d))));
      },
    ],
    ['time.diff', (a, b) => timeDiff(zonedTime(a, zones).time, zonedTime(b, zones).time)],
  ];
}

