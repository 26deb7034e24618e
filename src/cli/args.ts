// Flag parsing for the client commands, with the rules and messages of kumactl's flag library (pflag and
// cobra), so that commands and scripts written for kumactl read the same here.
import { parseGoDuration } from '../engine/builtins/gotime.js';

/** A command line kmesh-opa cannot act on: exit code 2, with the message and a pointer to --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The kinds of flag: `list` appends and splits on commas (pflag's StringSlice), `map` takes key=value
 * pairs the same way (StringToString), `duration` is a Go duration, kept in nanoseconds.
 */
export type FlagKind = 'string' | 'bool' | 'int' | 'list' | 'map' | 'duration';

export interface FlagSpec {
  kind: FlagKind;
  short?: string;
  required?: boolean;
  help: string;
  /** Shown in --help as the value's name. */
  value?: string;
  default?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export interface ParsedArgs {
  strings: Map<string, string>;
  bools: Set<string>;
  lists: Map<string, string[]>;
  maps: Map<string, Record<string, string>>;
  durations: Map<string, bigint>;
  ints: Map<string, number>;
  positionals: string[];
  help: boolean;
}

interface FlagTable {
  byLong: ReadonlyMap<string, string>;
  byShort: ReadonlyMap<string, string>;
}

const tables = new WeakMap<FlagSpecs, FlagTable>();

/** Each command's specs are constant, so their lookup tables are built once per spec object. */
function tableOf(specs: FlagSpecs): FlagTable {
  let table = tables.get(specs);
  if (!table) {
    const byShort = new Map<string, string>();
    for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);
    table = { byLong: new Map(Object.keys(specs).map((n) => [n, n])), byShort };
    tables.set(specs, table);
  }
  return table;
}

/** Parses `argv` against `specs`; `--help`/`-h` are always known. Throws UsageError as pflag words it. */
export function parseArgs(argv: readonly string[], specs: FlagSpecs): ParsedArgs {
  const table = tableOf(specs);
  const out: ParsedArgs = { strings: new Map(), bools: new Set(), lists: new Map(), maps: new Map(), durations: new Map(), ints: new Map(), positionals: [], help: false };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      out.positionals.push(arg);
      continue;
    }
    const { name, inline, label } = splitFlag(arg, table);
    const spec = specs[name]!;
    let value = inline;
    if (value === undefined && spec.kind !== 'bool') {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: ${label}`);
      value = argv[++i]!;
    }
    setFlag(out, name, spec, value ?? 'true');
    seen.add(name);
  }
  if (!out.help) requireFlags(specs, seen);
  return out;
}

function splitFlag(arg: string, table: FlagTable): { name: string; inline: string | undefined; label: string } {
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=');
    const long = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const name = table.byLong.get(long);
    if (name === undefined) throw new UsageError(`unknown flag: --${long}`);
    return { name, inline: eq < 0 ? undefined : arg.slice(eq + 1), label: `--${long}` };
  }
  const short = arg.charAt(1);
  const name = table.byShort.get(short);
  if (name === undefined) throw new UsageError(`unknown shorthand flag: '${short}' in ${arg}`);
  const rest = arg.slice(2);
  return { name, inline: rest === '' ? undefined : rest.replace(/^=/, ''), label: `'${short}' in -${short}` };
}

function setFlag(out: ParsedArgs, name: string, spec: FlagSpec, value: string): void {
  const bad = (why: string) => new UsageError(`invalid argument ${JSON.stringify(value)} for "${flagLabel(name, spec)}" flag: ${why}`);
  switch (spec.kind) {
    case 'string':
      out.strings.set(name, value);
      return;
    case 'bool':
      if (!BOOLS.has(value)) throw bad(`strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
      if (BOOLS.get(value)) out.bools.add(name);
      else out.bools.delete(name);
      return;
    case 'int':
      if (!/^[+-]?\d+$/.test(value)) throw bad(`strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`);
      out.ints.set(name, Number(value));
      return;
    case 'list':
      out.lists.set(name, [...(out.lists.get(name) ?? []), ...value.split(',')]);
      return;
    case 'map':
      out.maps.set(name, { ...out.maps.get(name), ...keyValues(value, bad) });
      return;
    case 'duration':
      try {
        out.durations.set(name, parseGoDuration(value));
      } catch (err) {
        throw bad((err as Error).message);
      }
      return;
  }
}

/** The spellings Go's strconv.ParseBool accepts. */
const BOOLS: ReadonlyMap<string, boolean> = new Map([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((s): [string, boolean] => [s, true]),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((s): [string, boolean] => [s, false]),
]);

// fromEntries defines each key as the map's own (assignment would turn `__proto__=x` into a prototype change).
function keyValues(value: string, bad: (why: string) => UsageError): Record<string, string> {
  return Object.fromEntries(
    value.split(',').map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) throw bad(`${pair} must be formatted as key=value`);
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    }),
  );
}

function requireFlags(specs: FlagSpecs, seen: ReadonlySet<string>): void {
  const missing = Object.entries(specs)
    .filter(([name, spec]) => spec.required && !seen.has(name))
    .map(([name]) => JSON.stringify(name));
  if (missing.length > 0) throw new UsageError(`required flag(s) ${missing.join(', ')} not set`);
}

function flagLabel(name: string, spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${name}` : `--${name}`;
}

/** The flags section of a command's --help. */
export function flagsHelp(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const value = spec.kind === 'bool' ? '' : ` ${spec.value ?? spec.kind}`;
    const dflt = spec.default === undefined ? '' : ` (default ${JSON.stringify(spec.default)})`;
    return [`${spec.short ? `-${spec.short}, ` : '    '}--${name}${value}`, `${spec.help}${dflt}`] as const;
  });
  rows.push(['-h, --help', 'help for this command']);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return rows.map(([flag, help]) => `  ${flag.padEnd(width)}   ${help}\n`).join('');
}

const UNITS: readonly (readonly [string, bigint])[] = [
  ['h', 3_600_000_000_000n],
  ['m', 60_000_000_000n],
];

/** Go's time.Duration.String ("24h0m0s", "1.5s", "300ms"): what kumactl sends as a token's validFor. */
export function goDurationString(ns: bigint): string {
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  let rest = ns < 0n ? -ns : ns;
  if (rest < 1_000_000_000n) return sign + subSecond(rest);
  let text = '';
  let started = false;
  for (const [unit, size] of UNITS) {
    const count = rest / size;
    rest %= size;
    if (count > 0n || started) {
      text += `${count}${unit}`;
      started = true;
    }
  }
  return `${sign}${text}${fraction(rest, 1_000_000_000n)}s`;
}

function subSecond(ns: bigint): string {
  if (ns < 1_000n) return `${ns}ns`;
  if (ns < 1_000_000n) return `${fraction(ns, 1_000n)}µs`;
  return `${fraction(ns, 1_000_000n)}ms`;
}

/** `value / unit` as Go prints it: the whole part, then the fraction without trailing zeros. */
function fraction(value: bigint, unit: bigint): string {
  const frac = (value % unit).toString().padStart(unit.toString().length - 1, '0').replace(/0+$/, '');
  return `${value / unit}${frac ? `.${frac}` : ''}`;
}
