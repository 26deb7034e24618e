// The parts of Go's time package the time.* builtins rest on: proleptic Gregorian calendar
// arithmetic, time zones, Time.Format / time.Parse with Go reference layouts, ParseDuration.
import { BuiltinError } from './values.js';

const SECONDS_PER_DAY = 86400;

// ---- calendar ------------------------------------------------------------------------------------

interface CivilDate {
  year: number;
  month: number;
  day: number;
}

function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = floorDiv(y, 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = floorDiv(153 * mp + 2, 5) + day - 1;
  const doe = yoe * 365 + floorDiv(yoe, 4) - floorDiv(yoe, 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days: number): CivilDate {
  const z = days + 719468;
  const era = floorDiv(z, 146097);
  const doe = z - era * 146097;
  const yoe = floorDiv(doe - floorDiv(doe, 1460) + floorDiv(doe, 36524) - floorDiv(doe, 146096), 365);
  const doy = doe - (365 * yoe + floorDiv(yoe, 4) - floorDiv(yoe, 100));
  const mp = floorDiv(5 * doy + 2, 153);
  const day = doy - floorDiv(153 * mp + 2, 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

function isLeap(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

const DAYS_BEFORE = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

export function daysIn(month: number, year: number): number {
  if (month === 2 && isLeap(year)) return 29;
  return (DAYS_BEFORE[month] ?? 0) - (DAYS_BEFORE[month - 1] ?? 0);
}

function yearDay(d: CivilDate): number {
  return (DAYS_BEFORE[d.month - 1] ?? 0) + d.day + (d.month > 2 && isLeap(d.year) ? 1 : 0);
}

// ---- zones ---------------------------------------------------------------------------------------

export interface Zone {
  /** Seconds east of UTC in effect at the instant. */
  offsetAt(unixSec: number): number;
  /** The zone abbreviation Go prints for "MST" at the instant. */
  abbreviationAt(unixSec: number): string;
}

export const UTC: Zone = { offsetAt: () => 0, abbreviationAt: () => 'UTC' };

const WALL_FIELDS: Intl.DateTimeFormatOptions = {
  hourCycle: 'h23',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
  era: 'short',
};

/** An IANA zone read through ICU; Intl formatters are costly to build, so one zone keeps its own. */
export class IanaZone implements Zone {
  private readonly wall: Intl.DateTimeFormat;
  private readonly names: Intl.DateTimeFormat[];

  constructor(name: string) {
    let wall: Intl.DateTimeFormat;
    try {
      wall = new Intl.DateTimeFormat('en-US', { ...WALL_FIELDS, timeZone: name });
    } catch {
      throw new BuiltinError(`unknown time zone ${name}`);
    }
    const resolved = wall.resolvedOptions().timeZone;
    // ICU matches names case-insensitively; Go's zoneinfo lookup is case-sensitive.
    if (resolved !== name && resolved.toLowerCase() === name.toLowerCase()) throw new BuiltinError(`unknown time zone ${name}`);
    this.wall = wall;
    // en-US knows the North American abbreviations, en-GB the European ones.
    this.names = ['en-US', 'en-GB'].map((l) => new Intl.DateTimeFormat(l, { timeZone: name, timeZoneName: 'short' }));
  }

  offsetAt(unixSec: number): number {
    const parts = this.wall.formatToParts(new Date(unixSec * 1000));
    const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
    let year = get('year');
    if (parts.find((p) => p.type === 'era')?.value === 'BC') year = 1 - year;
    const wallSec = daysFromCivil(year, get('month'), get('day')) * SECONDS_PER_DAY + get('hour') * 3600 + get('minute') * 60 + get('second');
    return wallSec - unixSec;
  }

  abbreviationAt(unixSec: number): string {
    const date = new Date(unixSec * 1000);
    let gmtStyle = 'GMT';
    for (const f of this.names) {
      const name = f.formatToParts(date).find((p) => p.type === 'timeZoneName')?.value ?? '';
      if (!name.startsWith('GMT') || name === 'GMT') return name;
      gmtStyle = name;
    }
    return numericAbbreviation(gmtStyle);
  }
}

/** tzdata names zones without a common abbreviation by offset: "GMT+5:30" -> "+0530", "GMT-3" -> "-03". */
function numericAbbreviation(gmt: string): string {
  const m = /^GMT([+-])(\d{1,2})(?::(\d{2}))?$/.exec(gmt);
  if (m === null) return gmt;
  const hh = (m[2] ?? '').padStart(2, '0');
  return `${m[1] ?? '+'}${hh}${m[3] ?? ''}`;
}

// ---- time values ---------------------------------------------------------------------------------

/** An instant (whole seconds + nanoseconds) seen in a zone. */
export interface GoTime {
  sec: number;
  nsec: number;
  zone: Zone;
}

const NS_PER_SEC = 1_000_000_000n;
const MIN_NS = -(1n << 63n);
const MAX_NS = (1n << 63n) - 1n;

export function fromUnixNano(ns: bigint, zone: Zone): GoTime {
  let sec = ns / NS_PER_SEC;
  let nsec = ns % NS_PER_SEC;
  if (nsec < 0n) {
    nsec += NS_PER_SEC;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec), zone };
}

/** Go OPA's toSafeUnixNano: instants outside int64 nanoseconds are an error. */
export function toUnixNano(t: GoTime): bigint {
  if (!Number.isFinite(t.sec) || Math.abs(t.sec) > 1e13) throw new BuiltinError('time outside of valid range');
  const ns = BigInt(t.sec) * NS_PER_SEC + BigInt(t.nsec);
  if (ns < MIN_NS || ns > MAX_NS) throw new BuiltinError('time outside of valid range');
  return ns;
}

export interface Wall extends CivilDate {
  hour: number;
  minute: number;
  second: number;
  /** Days since the epoch of the wall date, for the weekday. */
  days: number;
  offset: number;
}

export function wallClock(t: GoTime): Wall {
  const offset = t.zone.offsetAt(t.sec);
  const local = t.sec + offset;
  const days = floorDiv(local, SECONDS_PER_DAY);
  const secOfDay = local - days * SECONDS_PER_DAY;
  return {
    ...civilFromDays(days),
    hour: floorDiv(secOfDay, 3600),
    minute: floorDiv(secOfDay % 3600, 60),
    second: secOfDay % 60,
    days,
    offset,
  };
}

/** 0 = Sunday, as Go's time.Weekday. */
export function weekdayOf(days: number): number {
  return (((days + 4) % 7) + 7) % 7;
}

export const LONG_DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const LONG_MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const SHORT_DAY_NAMES = LONG_DAY_NAMES.map((d) => d.slice(0, 3));
const SHORT_MONTH_NAMES = LONG_MONTH_NAMES.map((m) => m.slice(0, 3));

/** Go's time.Date: every field may overflow its range and is normalised; the wall time is read in zone. */
export function goDate(year: number, month: number, day: number, hour: number, min: number, sec: number, nsec: number, zone: Zone): GoTime {
  const m0 = month - 1;
  const y = year + floorDiv(m0, 12);
  const m = m0 - floorDiv(m0, 12) * 12 + 1;
  const carrySec = floorDiv(nsec, 1e9);
  const ns = nsec - carrySec * 1e9;
  const wall = (daysFromCivil(y, m, 1) + day - 1) * SECONDS_PER_DAY + hour * 3600 + min * 60 + sec + carrySec;
  let offset = zone.offsetAt(wall);
  if (offset !== 0) {
    // The offset found for the wall time read as UTC may not be the one in effect at the real instant.
    const second = zone.offsetAt(wall - offset);
    if (second !== offset) offset = second;
  }
  return { sec: wall - offset, nsec: ns, zone };
}

/** Go's Time.AddDate. */
export function addDate(t: GoTime, years: number, months: number, days: number): GoTime {
  const w = wallClock(t);
  return goDate(w.year + years, w.month + months, w.day + days, w.hour, w.minute, w.second, t.nsec, t.zone);
}

// ---- layouts -------------------------------------------------------------------------------------

type Std =
  | 'LongMonth' | 'Month' | 'NumMonth' | 'ZeroMonth' | 'LongWeekDay' | 'WeekDay' | 'Day' | 'UnderDay' | 'ZeroDay'
  | 'UnderYearDay' | 'ZeroYearDay' | 'Hour' | 'Hour12' | 'ZeroHour12' | 'Minute' | 'ZeroMinute' | 'Second' | 'ZeroSecond'
  | 'LongYear' | 'Year' | 'PM' | 'pm' | 'TZ'
  | 'ISO8601TZ' | 'ISO8601SecondsTZ' | 'ISO8601ShortTZ' | 'ISO8601ColonTZ' | 'ISO8601ColonSecondsTZ'
  | 'NumTZ' | 'NumSecondsTz' | 'NumShortTZ' | 'NumColonTZ' | 'NumColonSecondsTZ' | 'FracSecond0' | 'FracSecond9';

interface Chunk {
  prefix: string;
  std: Std | undefined;
  /** Digits of a fractional-second element. */
  digits: number;
  /** ',' or '.' before a fractional second. */
  separator: string;
  suffix: string;
}

const ZERO_X: ReadonlyArray<Std> = ['ZeroMonth', 'ZeroDay', 'ZeroHour12', 'ZeroMinute', 'ZeroSecond', 'Year'];

// Longest first: the first that matches at a position wins, as in Go's nextStdChunk.
const SIGNED_ZONES: ReadonlyArray<readonly [string, Std]> = [
  ['-070000', 'NumSecondsTz'], ['-07:00:00', 'NumColonSecondsTZ'], ['-0700', 'NumTZ'], ['-07:00', 'NumColonTZ'], ['-07', 'NumShortTZ'],
];
const Z_ZONES: ReadonlyArray<readonly [string, Std]> = [
  ['Z070000', 'ISO8601SecondsTZ'], ['Z07:00:00', 'ISO8601ColonSecondsTZ'], ['Z0700', 'ISO8601TZ'], ['Z07:00', 'ISO8601ColonTZ'], ['Z07', 'ISO8601ShortTZ'],
];

function startsWithLower(s: string): boolean {
  const c = s.charAt(0);
  return c >= 'a' && c <= 'z';
}

function isDigitAt(s: string, i: number): boolean {
  const c = s.charAt(i);
  return c >= '0' && c <= '9';
}

function chunk(layout: string, i: number, std: Std, len: number, extra: Partial<Chunk> = {}): Chunk {
  return { prefix: layout.slice(0, i), std, digits: 0, separator: '.', suffix: layout.slice(i + len), ...extra };
}

function zoneChunk(layout: string, i: number, table: ReadonlyArray<readonly [string, Std]>): Chunk | undefined {
  for (const [text, std] of table) if (layout.startsWith(text, i)) return chunk(layout, i, std, text.length);
  return undefined;
}

/** Go's nextStdChunk: the text before the first layout element, the element, and the rest. */
function nextStdChunk(layout: string): Chunk {
  for (let i = 0; i < layout.length; i++) {
    const found = stdAt(layout, i);
    if (found !== undefined) return found;
  }
  return { prefix: layout, std: undefined, digits: 0, separator: '.', suffix: '' };
}

function stdAt(layout: string, i: number): Chunk | undefined {
  const rest = layout.slice(i);
  switch (layout.charAt(i)) {
    case 'J':
      if (rest.startsWith('January')) return chunk(layout, i, 'LongMonth', 7);
      if (rest.startsWith('Jan') && !startsWithLower(rest.slice(3))) return chunk(layout, i, 'Month', 3);
      return undefined;
    case 'M':
      if (rest.startsWith('Monday')) return chunk(layout, i, 'LongWeekDay', 6);
      if (rest.startsWith('Mon') && !startsWithLower(rest.slice(3))) return chunk(layout, i, 'WeekDay', 3);
      if (rest.startsWith('MST')) return chunk(layout, i, 'TZ', 3);
      return undefined;
    case '0': {
      const d = rest.charAt(1);
      if (d >= '1' && d <= '6') return chunk(layout, i, ZERO_X[Number(d) - 1] ?? 'ZeroMonth', 2);
      if (rest.startsWith('002')) return chunk(layout, i, 'ZeroYearDay', 3);
      return undefined;
    }
    case '1':
      return rest.startsWith('15') ? chunk(layout, i, 'Hour', 2) : chunk(layout, i, 'NumMonth', 1);
    case '2':
      return rest.startsWith('2006') ? chunk(layout, i, 'LongYear', 4) : chunk(layout, i, 'Day', 1);
    case '_':
      if (rest.charAt(1) === '2') {
        // "_2006" is a literal underscore followed by the long year.
        if (rest.startsWith('_2006')) return chunk(layout, i + 1, 'LongYear', 4, { prefix: layout.slice(0, i + 1) });
        return chunk(layout, i, 'UnderDay', 2);
      }
      return rest.startsWith('__2') ? chunk(layout, i, 'UnderYearDay', 3) : undefined;
    case '3':
      return chunk(layout, i, 'Hour12', 1);
    case '4':
      return chunk(layout, i, 'Minute', 1);
    case '5':
      return chunk(layout, i, 'Second', 1);
    case 'P':
      return rest.charAt(1) === 'M' ? chunk(layout, i, 'PM', 2) : undefined;
    case 'p':
      return rest.charAt(1) === 'm' ? chunk(layout, i, 'pm', 2) : undefined;
    case '-':
      return zoneChunk(layout, i, SIGNED_ZONES);
    case 'Z':
      return zoneChunk(layout, i, Z_ZONES);
    case '.':
    case ',':
      return fractionChunk(layout, i);
  }
  return undefined;
}

function fractionChunk(layout: string, i: number): Chunk | undefined {
  const ch = layout.charAt(i + 1);
  if (ch !== '0' && ch !== '9') return undefined;
  let j = i + 1;
  while (layout.charAt(j) === ch) j++;
  // Only a run that ends the digits is a fractional second ("05.000" yes, ".0001" no).
  if (isDigitAt(layout, j)) return undefined;
  return chunk(layout, i, ch === '0' ? 'FracSecond0' : 'FracSecond9', j - i, { digits: j - i - 1, separator: layout.charAt(i) });
}

// ---- Format ----------------------------------------------------------------------------------------

function pad(n: number, width: number): string {
  const s = String(Math.abs(n)).padStart(width, '0');
  return n < 0 ? '-' + s : s;
}

const COLON_ZONES: ReadonlySet<Std> = new Set(['ISO8601ColonTZ', 'NumColonTZ', 'ISO8601ColonSecondsTZ', 'NumColonSecondsTZ']);
const SHORT_ZONES: ReadonlySet<Std> = new Set(['NumShortTZ', 'ISO8601ShortTZ']);
const SECONDS_ZONES: ReadonlySet<Std> = new Set(['ISO8601SecondsTZ', 'NumSecondsTz', 'NumColonSecondsTZ', 'ISO8601ColonSecondsTZ']);
const ISO_ZONES: ReadonlySet<Std> = new Set(['ISO8601TZ', 'ISO8601ColonTZ', 'ISO8601SecondsTZ', 'ISO8601ShortTZ', 'ISO8601ColonSecondsTZ']);
const NUMERIC_ZONES: ReadonlySet<Std> = new Set([...ISO_ZONES, 'NumTZ', 'NumColonTZ', 'NumSecondsTz', 'NumShortTZ', 'NumColonSecondsTZ']);

function formatOffset(std: Std, offset: number): string {
  if (offset === 0 && ISO_ZONES.has(std)) return 'Z';
  const zone = Math.trunc(offset / 60);
  const abs = Math.abs(offset);
  let out = (zone < 0 ? '-' : '+') + pad(Math.trunc(Math.abs(zone) / 60), 2);
  if (COLON_ZONES.has(std)) out += ':';
  if (!SHORT_ZONES.has(std)) out += pad(Math.abs(zone) % 60, 2);
  if (SECONDS_ZONES.has(std)) out += (std === 'NumColonSecondsTZ' || std === 'ISO8601ColonSecondsTZ' ? ':' : '') + pad(abs % 60, 2);
  return out;
}

function formatNano(nsec: number, c: Chunk): string {
  const trim = c.std === 'FracSecond9';
  if (trim && (c.digits === 0 || nsec === 0)) return '';
  let out = String(nsec).padStart(9, '0').slice(0, Math.min(c.digits, 9));
  if (trim) out = out.replace(/0+$/, '');
  return out === '' && trim ? '' : c.separator + out;
}

function hour12(hour: number): number {
  return hour % 12 === 0 ? 12 : hour % 12;
}

function formatStd(c: Chunk, t: GoTime, w: Wall): string {
  switch (c.std) {
    case 'Year':
      return pad(Math.abs(w.year) % 100, 2);
    case 'LongYear':
      return pad(w.year, 4);
    case 'Month':
      return SHORT_MONTH_NAMES[w.month - 1] ?? '';
    case 'LongMonth':
      return LONG_MONTH_NAMES[w.month - 1] ?? '';
    case 'NumMonth':
      return String(w.month);
    case 'ZeroMonth':
      return pad(w.month, 2);
    case 'WeekDay':
      return SHORT_DAY_NAMES[weekdayOf(w.days)] ?? '';
    case 'LongWeekDay':
      return LONG_DAY_NAMES[weekdayOf(w.days)] ?? '';
    case 'Day':
      return String(w.day);
    case 'UnderDay':
      return (w.day < 10 ? ' ' : '') + String(w.day);
    case 'ZeroDay':
      return pad(w.day, 2);
    case 'UnderYearDay':
      return String(yearDay(w)).padStart(3, ' ');
    case 'ZeroYearDay':
      return pad(yearDay(w), 3);
    case 'Hour':
      return pad(w.hour, 2);
    case 'Hour12':
      return String(hour12(w.hour));
    case 'ZeroHour12':
      return pad(hour12(w.hour), 2);
    case 'Minute':
      return String(w.minute);
    case 'ZeroMinute':
      return pad(w.minute, 2);
    case 'Second':
      return String(w.second);
    case 'ZeroSecond':
      return pad(w.second, 2);
    case 'PM':
      return w.hour >= 12 ? 'PM' : 'AM';
    case 'pm':
      return w.hour >= 12 ? 'pm' : 'am';
    case 'TZ': {
      const name = t.zone.abbreviationAt(t.sec);
      if (name !== '') return name;
      const zone = Math.trunc(w.offset / 60);
      return (zone < 0 ? '-' : '+') + pad(Math.trunc(Math.abs(zone) / 60), 2) + pad(Math.abs(zone) % 60, 2);
    }
    case 'FracSecond0':
    case 'FracSecond9':
      return formatNano(t.nsec, c);
    case undefined:
      return '';
    default:
      return formatOffset(c.std, w.offset);
  }
}

/** Go's Time.Format. */
export function formatTime(t: GoTime, layout: string): string {
  const w = wallClock(t);
  let out = '';
  let rest = layout;
  while (rest !== '') {
    const c = nextStdChunk(rest);
    out += c.prefix;
    if (c.std === undefined) break;
    out += formatStd(c, t, w);
    rest = c.suffix;
  }
  return out;
}

// ---- Parse -------------------------------------------------------------------------------------------

class BadValue extends Error {}

/** Go's getnum: one or two digits (exactly two when fixed). */
function getnum(s: string, fixed: boolean): [number, string] {
  if (!isDigitAt(s, 0)) throw new BadValue();
  if (!isDigitAt(s, 1)) {
    if (fixed) throw new BadValue();
    return [Number(s.charAt(0)), s.slice(1)];
  }
  return [Number(s.slice(0, 2)), s.slice(2)];
}

function getnum3(s: string, fixed: boolean): [number, string] {
  let i = 0;
  while (i < 3 && isDigitAt(s, i)) i++;
  if (i === 0 || (fixed && i !== 3)) throw new BadValue();
  return [Number(s.slice(0, i)), s.slice(i)];
}

/** Go's atoi for layout fields: optional sign, then only digits. */
function atoi(s: string): number {
  const m = /^([+-]?)(\d+)$/.exec(s);
  if (m === null) throw new BadValue();
  const v = Number(m[2]);
  return m[1] === '-' ? -v : v;
}

/** Go's skip: the layout's literal text, where a run of spaces matches any run of spaces. */
function skip(value: string, prefix: string): string {
  let v = value;
  let p = prefix;
  while (p.length > 0) {
    if (p.charAt(0) === ' ') {
      if (v.length > 0 && v.charAt(0) !== ' ') throw new BadValue();
      p = p.replace(/^ +/, '');
      v = v.replace(/^ +/, '');
      continue;
    }
    if (v.length === 0 || v.charAt(0) !== p.charAt(0)) throw new BadValue();
    p = p.slice(1);
    v = v.slice(1);
  }
  return v;
}

/** Go's lookup: case-insensitive match of a name table at the start of the value. */
function lookupName(table: readonly string[], value: string): [number, string] {
  for (let i = 0; i < table.length; i++) {
    const name = table[i] ?? '';
    if (value.length >= name.length && value.slice(0, name.length).toLowerCase() === name.toLowerCase()) return [i, value.slice(name.length)];
  }
  throw new BadValue();
}

/** Go's parseNanoseconds: value starts with the separator; nbytes counts it. */
function parseNanoseconds(value: string, nbytes: number): number {
  const sep = value.charAt(0);
  if (sep !== '.' && sep !== ',') throw new BadValue();
  const n = Math.min(nbytes, 10);
  const digits = value.slice(1, n);
  if (!/^\d*$/.test(digits) || digits === '') throw new BadValue();
  return Number(digits) * 10 ** (10 - n);
}

/** Go's parseTimeZone: the length of a zone abbreviation at the start of the value, or 0. */
function parseTimeZone(value: string): number {
  if (value.length < 3) return 0;
  if (value.startsWith('ChST') || value.startsWith('MeST')) return 4;
  if (value.startsWith('GMT')) return 3 + (value.length > 3 ? parseSignedOffset(value.slice(3)) : 0);
  if (value.charAt(0) === '+' || value.charAt(0) === '-') return parseSignedOffset(value);
  let upper = 0;
  while (upper < 6 && upper < value.length && value.charAt(upper) >= 'A' && value.charAt(upper) <= 'Z') upper++;
  if (upper === 3) return 3;
  if (upper === 4 && (value.charAt(3) === 'T' || value.startsWith('WITA'))) return 4;
  if (upper === 5 && value.charAt(4) === 'T') return 5;
  return 0;
}

function parseSignedOffset(value: string): number {
  const m = /^[+-](\d+)/.exec(value);
  if (m === null || Number(m[1]) > 23) return 0;
  return m[0].length;
}

interface ParseState {
  year: number;
  month: number;
  day: number;
  yday: number;
  hour: number;
  min: number;
  sec: number;
  nsec: number;
  pmSet: boolean;
  amSet: boolean;
  utc: boolean;
  zoneOffset: number | undefined;
  zoneName: string;
  rangeError: string;
}

function parseZoneOffset(std: Std, value: string, st: ParseState): string {
  let sign: string;
  let hh: string;
  let mm = '00';
  let ss = '00';
  let rest: string;
  if (std === 'ISO8601ColonTZ' || std === 'NumColonTZ') {
    if (value.length < 6 || value.charAt(3) !== ':') throw new BadValue();
    [sign, hh, mm, rest] = [value.charAt(0), value.slice(1, 3), value.slice(4, 6), value.slice(6)];
  } else if (SHORT_ZONES.has(std)) {
    if (value.length < 3) throw new BadValue();
    [sign, hh, rest] = [value.charAt(0), value.slice(1, 3), value.slice(3)];
  } else if (std === 'ISO8601ColonSecondsTZ' || std === 'NumColonSecondsTZ') {
    if (value.length < 9 || value.charAt(3) !== ':' || value.charAt(6) !== ':') throw new BadValue();
    [sign, hh, mm, ss, rest] = [value.charAt(0), value.slice(1, 3), value.slice(4, 6), value.slice(7, 9), value.slice(9)];
  } else if (std === 'ISO8601SecondsTZ' || std === 'NumSecondsTz') {
    if (value.length < 7) throw new BadValue();
    [sign, hh, mm, ss, rest] = [value.charAt(0), value.slice(1, 3), value.slice(3, 5), value.slice(5, 7), value.slice(7)];
  } else {
    if (value.length < 5) throw new BadValue();
    [sign, hh, mm, rest] = [value.charAt(0), value.slice(1, 3), value.slice(3, 5), value.slice(5)];
  }
  const [h] = getnum(hh, true);
  const [m] = getnum(mm, true);
  const [s] = getnum(ss, true);
  // Go tests with '>' so that offsets of 24 hours or 60 minutes still parse.
  if (h > 24) st.rangeError = 'time zone offset hour';
  if (m > 60) st.rangeError = 'time zone offset minute';
  if (s > 60) st.rangeError = 'time zone offset second';
  const offset = (h * 60 + m) * 60 + s;
  if (sign === '+') st.zoneOffset = offset;
  else if (sign === '-') st.zoneOffset = -offset;
  else throw new BadValue();
  return rest;
}

function parseStd(c: Chunk, value: string, st: ParseState): string {
  const std = c.std;
  switch (std) {
    case 'Year': {
      if (value.length < 2) throw new BadValue();
      const y = atoi(value.slice(0, 2));
      st.year = y >= 69 ? y + 1900 : y + 2000;
      return value.slice(2);
    }
    case 'LongYear':
      if (value.length < 4 || !isDigitAt(value, 0)) throw new BadValue();
      st.year = atoi(value.slice(0, 4));
      return value.slice(4);
    case 'Month':
    case 'LongMonth': {
      const [i, rest] = lookupName(std === 'Month' ? SHORT_MONTH_NAMES : LONG_MONTH_NAMES, value);
      st.month = i + 1;
      return rest;
    }
    case 'NumMonth':
    case 'ZeroMonth': {
      const [m, rest] = getnum(value, std === 'ZeroMonth');
      st.month = m;
      if (m <= 0 || m > 12) st.rangeError = 'month';
      return rest;
    }
    case 'WeekDay':
      return lookupName(SHORT_DAY_NAMES, value)[1];
    case 'LongWeekDay':
      return lookupName(LONG_DAY_NAMES, value)[1];
    case 'Day':
    case 'UnderDay':
    case 'ZeroDay': {
      const v = std === 'UnderDay' && value.charAt(0) === ' ' ? value.slice(1) : value;
      const [d, rest] = getnum(v, std === 'ZeroDay');
      st.day = d;
      return rest;
    }
    case 'UnderYearDay':
    case 'ZeroYearDay': {
      const v = std === 'UnderYearDay' ? value.replace(/^ {1,2}/, '') : value;
      const [d, rest] = getnum3(v, std === 'ZeroYearDay');
      st.yday = d;
      return rest;
    }
    case 'Hour': {
      const [h, rest] = getnum(value, false);
      st.hour = h;
      if (h >= 24) st.rangeError = 'hour';
      return rest;
    }
    case 'Hour12':
    case 'ZeroHour12': {
      const [h, rest] = getnum(value, std === 'ZeroHour12');
      st.hour = h;
      if (h > 12) st.rangeError = 'hour';
      return rest;
    }
    case 'Minute':
    case 'ZeroMinute': {
      const [m, rest] = getnum(value, std === 'ZeroMinute');
      st.min = m;
      if (m >= 60) st.rangeError = 'minute';
      return rest;
    }
    case 'Second':
    case 'ZeroSecond':
      return parseSeconds(c, value, st);
    case 'PM':
    case 'pm': {
      if (value.length < 2) throw new BadValue();
      const p = value.slice(0, 2);
      const [pm, am] = std === 'PM' ? ['PM', 'AM'] : ['pm', 'am'];
      if (p === pm) st.pmSet = true;
      else if (p === am) st.amSet = true;
      else throw new BadValue();
      return value.slice(2);
    }
    case 'TZ': {
      if (value.startsWith('UTC')) {
        st.utc = true;
        return value.slice(3);
      }
      const n = parseTimeZone(value);
      if (n === 0) throw new BadValue();
      st.zoneName = value.slice(0, n);
      return value.slice(n);
    }
    case 'FracSecond0': {
      const n = 1 + c.digits;
      if (value.length < n) throw new BadValue();
      st.nsec = parseNanoseconds(value, n);
      return value.slice(n);
    }
    case 'FracSecond9': {
      if (value.length < 2 || (value.charAt(0) !== '.' && value.charAt(0) !== ',') || !isDigitAt(value, 1)) return value;
      let i = 0;
      while (i + 1 < value.length && isDigitAt(value, i + 1)) i++;
      st.nsec = parseNanoseconds(value, 1 + i);
      return value.slice(1 + i);
    }
    case undefined:
      return value;
    default:
      if (ISO_ZONES.has(std) && value.charAt(0) === 'Z') {
        st.utc = true;
        return value.slice(1);
      }
      return parseZoneOffset(std, value, st);
  }
}

function parseSeconds(c: Chunk, value: string, st: ParseState): string {
  const [s, rest] = getnum(value, c.std === 'ZeroSecond');
  st.sec = s;
  if (s >= 60) {
    st.rangeError = 'second';
    return rest;
  }
  // A fractional second may follow the seconds even when the layout does not ask for one.
  if (rest.length >= 2 && (rest.charAt(0) === '.' || rest.charAt(0) === ',') && isDigitAt(rest, 1)) {
    const next = nextStdChunk(c.suffix).std;
    if (next === 'FracSecond0' || next === 'FracSecond9') return rest;
    let n = 2;
    while (n < rest.length && isDigitAt(rest, n)) n++;
    st.nsec = parseNanoseconds(rest, n);
    return rest.slice(n);
  }
  return rest;
}

function parseFail(value: string, layout: string, message = ''): BuiltinError {
  return new BuiltinError(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}${message === '' ? ': cannot parse' : message}`);
}

/** Turns a day of the year into month and day, checking it against any month/day already parsed. */
function applyYearDay(st: ParseState, value: string, layout: string): void {
  let yday = st.yday;
  let m = 0;
  let d = 0;
  if (isLeap(st.year)) {
    if (yday === 31 + 29) {
      m = 2;
      d = 29;
    } else if (yday > 31 + 29) {
      yday--;
    }
  }
  if (yday < 1 || yday > 365) throw parseFail(value, layout, ': day-of-year out of range');
  if (m === 0) {
    m = Math.floor((yday - 1) / 31) + 1;
    if ((DAYS_BEFORE[m] ?? 0) < yday) m++;
    d = yday - (DAYS_BEFORE[m - 1] ?? 0);
  }
  if (st.month >= 0 && st.month !== m) throw parseFail(value, layout, ': day-of-year does not match month');
  if (st.day >= 0 && st.day !== d) throw parseFail(value, layout, ': day-of-year does not match day');
  st.month = m;
  st.day = d;
}

/**
 * Go's time.Parse (with Local being the zone of local names). Only the instant matters to the
 * builtins: a zone abbreviation unknown to Local leaves the wall time read as UTC, as in Go.
 */
export function parseTime(layout: string, value: string, local: Zone): GoTime {
  const st: ParseState = {
    year: 0, month: -1, day: -1, yday: -1, hour: 0, min: 0, sec: 0, nsec: 0,
    pmSet: false, amSet: false, utc: false, zoneOffset: undefined, zoneName: '', rangeError: '',
  };
  let rest = layout;
  let v = value;
  for (;;) {
    const c = nextStdChunk(rest);
    try {
      v = skip(v, c.prefix);
    } catch {
      throw parseFail(value, layout);
    }
    if (c.std === undefined) {
      if (v.length !== 0) throw parseFail(value, layout, `: extra text: ${JSON.stringify(v)}`);
      break;
    }
    rest = c.suffix;
    try {
      v = parseStd(c, v, st);
    } catch (e) {
      if (e instanceof BadValue) throw parseFail(value, layout);
      throw e;
    }
    if (st.rangeError !== '') throw parseFail(value, layout, `: ${st.rangeError} out of range`);
  }
  if (st.pmSet && st.hour < 12) st.hour += 12;
  else if (st.amSet && st.hour === 12) st.hour = 0;
  if (st.yday >= 0) applyYearDay(st, value, layout);
  else {
    if (st.month < 0) st.month = 1;
    if (st.day < 0) st.day = 1;
  }
  if (st.day < 1 || st.day > daysIn(st.month, st.year)) throw parseFail(value, layout, ': day out of range');
  const t = goDate(st.year, st.month, st.day, st.hour, st.min, st.sec, st.nsec, UTC);
  if (st.utc) return t;
  if (st.zoneOffset !== undefined) return { ...t, sec: t.sec - st.zoneOffset };
  if (st.zoneName !== '') {
    const offset = local.offsetAt(t.sec);
    if (local.abbreviationAt(t.sec - offset) === st.zoneName) return { ...t, sec: t.sec - offset };
  }
  return t;
}

// ---- durations -------------------------------------------------------------------------------------

const DURATION_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1000n],
  ['µs', 1000n],
  ['μs', 1000n],
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

const TWO_63 = 1n << 63n;

function durationError(orig: string, message = 'invalid duration'): BuiltinError {
  return new BuiltinError(`time: ${message} ${JSON.stringify(orig)}`);
}

/** Go's time.ParseDuration, in exact integer nanoseconds. */
export function parseGoDuration(orig: string): bigint {
  let s = orig;
  let neg = false;
  if (s !== '' && (s.charAt(0) === '-' || s.charAt(0) === '+')) {
    neg = s.charAt(0) === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw durationError(orig);
  let total = 0n;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s);
    const intDigits = m?.[1] ?? '';
    const fracDigits = m?.[2];
    if (intDigits === '' && (fracDigits === undefined || fracDigits === '')) throw durationError(orig);
    s = s.slice(m?.[0].length ?? 0);
    let v = BigInt(intDigits === '' ? '0' : intDigits);
    if (v > TWO_63) throw durationError(orig);
    const unitMatch = /^[^.0-9]*/.exec(s);
    const unitText = unitMatch?.[0] ?? '';
    if (unitText === '') throw durationError(orig, 'missing unit in duration');
    s = s.slice(unitText.length);
    const unit = DURATION_UNITS.get(unitText);
    if (unit === undefined) throw durationError(orig, `unknown unit ${JSON.stringify(unitText)} in duration`);
    if (v > TWO_63 / unit) throw durationError(orig);
    v *= unit;
    if (fracDigits !== undefined && fracDigits !== '') v += fractionNanos(fracDigits, unit);
    if (v > TWO_63) throw durationError(orig);
    total += v;
    if (total > TWO_63) throw durationError(orig);
  }
  if (neg) return -total;
  if (total > TWO_63 - 1n) throw durationError(orig);
  return total;
}

/** Go's leadingFraction and the float64 scaling ParseDuration applies to it. */
function fractionNanos(digits: string, unit: bigint): bigint {
  let f = 0n;
  let scale = 1;
  for (const ch of digits) {
    const next = f * 10n + BigInt(ch);
    // Go stops taking digits once the fraction would overflow its uint64.
    if (f > (TWO_63 - 1n) / 10n || next > TWO_63) break;
    f = next;
    scale *= 10;
  }
  if (f === 0n) return 0n;
  return BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
}
