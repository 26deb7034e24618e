// yaml.marshal / yaml.unmarshal / yaml.is_valid as Go OPA does them through sigs.k8s.io/yaml on
// go-yaml v2: YAML 1.1 scalar resolution (yes/no/on/off booleans, 0777 octal, 1_000), the first
// document only, keys turned into strings, and v2's emitter layout for marshal. The `yaml` package
// only tokenises; resolution and emitting follow go-yaml v2 here.
import { isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, Scalar, type Document, type Node } from 'yaml';
import { formatGoFloat } from './gofloat.js';
import { parseTime, UTC } from './gotime.js';
import {
  BuiltinError,
  INT64_MAX,
  INT64_MIN,
  integerResult,
  isObject,
  RegoNumber,
  RegoSet,
  setOwn,
  stringOperand,
  type BuiltinFn,
  type BuiltinResult,
  type BuiltinValue,
  type ResultObject,
} from './values.js';

// ---- go-yaml v2 scalar resolution ------------------------------------------------------------------

type Resolved =
  | { tag: 'str' | 'timestamp'; value: string }
  | { tag: 'bool'; value: boolean }
  | { tag: 'null'; value: null }
  | { tag: 'int'; value: bigint }
  | { tag: 'float'; value: number };

const RESOLVE_MAP: ReadonlyMap<string, Resolved> = new Map<string, Resolved>([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'].map((s): [string, Resolved] => [s, { tag: 'bool', value: true }]),
  ...['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'].map((s): [string, Resolved] => [s, { tag: 'bool', value: false }]),
  ...['', '~', 'null', 'Null', 'NULL'].map((s): [string, Resolved] => [s, { tag: 'null', value: null }]),
  ...['.nan', '.NaN', '.NAN'].map((s): [string, Resolved] => [s, { tag: 'float', value: NaN }]),
  ...['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF'].map((s): [string, Resolved] => [s, { tag: 'float', value: Infinity }]),
  ...['-.inf', '-.Inf', '-.INF'].map((s): [string, Resolved] => [s, { tag: 'float', value: -Infinity }]),
]);

function hint(s: string): string {
  if (s === '') return 'N';
  const c = s.charAt(0);
  if (c === '+' || c === '-') return 'S';
  if (c >= '0' && c <= '9') return 'D';
  if ('yYnNtTfFoO~'.includes(c)) return 'M';
  return c === '.' ? '.' : '';
}

const GO_INT_BASE0 = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9]\d*)$/;
const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const DOT_FLOAT = /^\.[0-9]+([eE][-+]?[0-9]+)?$/;
const UINT64_MAX = (1n << 64n) - 1n;
const TIMESTAMP_LAYOUTS = ['2006-1-2T15:4:5.999999999Z07:00', '2006-1-2t15:4:5.999999999Z07:00', '2006-1-2 15:4:5.999999999', '2006-1-2'];

/** strconv.ParseInt(s, 0, 64) then ParseUint: undefined when neither accepts it. */
function parseGoInteger(s: string): bigint | undefined {
  const m = GO_INT_BASE0.exec(s);
  if (m === null) return undefined;
  const [, sign = '', body = ''] = m;
  const lower = body.toLowerCase();
  let magnitude: bigint;
  if (lower.startsWith('0o')) magnitude = BigInt('0o' + body.slice(2));
  else if (lower.startsWith('0x') || lower.startsWith('0b')) magnitude = BigInt(body);
  else if (body.length > 1 && body.startsWith('0')) magnitude = BigInt('0o' + body.slice(1));
  else magnitude = BigInt(body);
  const value = sign === '-' ? -magnitude : magnitude;
  if (value >= INT64_MIN && value <= INT64_MAX) return value;
  return sign === '' && value <= UINT64_MAX ? value : undefined;
}

function looksLikeTimestamp(s: string): boolean {
  if (!/^\d{4}-/.test(s)) return false;
  return TIMESTAMP_LAYOUTS.some((layout) => {
    try {
      parseTime(layout, s, UTC);
      return true;
    } catch {
      return false;
    }
  });
}

/** go-yaml v2's resolve() for an untagged plain scalar. */
function resolvePlain(s: string): Resolved {
  const h = hint(s);
  if (h === '') return { tag: 'str', value: s };
  const known = RESOLVE_MAP.get(s);
  if (known !== undefined) return known;
  if (h === '.') {
    const f = DOT_FLOAT.test(s) ? Number(s) : NaN;
    if (Number.isFinite(f)) return { tag: 'float', value: f };
  } else if (h === 'D' || h === 'S') {
    if (looksLikeTimestamp(s)) return { tag: 'timestamp', value: s };
    const plain = s.replaceAll('_', '');
    const i = parseGoInteger(plain);
    if (i !== undefined) return { tag: 'int', value: i };
    if (YAML_STYLE_FLOAT.test(plain)) {
      const f = Number(plain);
      if (Number.isFinite(f)) return { tag: 'float', value: f };
    }
  }
  return { tag: 'str', value: s };
}

// ---- unmarshal -----------------------------------------------------------------------------------

const MAX_NODES = 1_000_000;
const STR_TAG = 'tag:yaml.org,2002:str';
const BINARY_TAG = 'tag:yaml.org,2002:binary';
const RESOLVABLE_TAGS: ReadonlySet<string> = new Set(['int', 'float', 'bool', 'null', 'timestamp'].map((t) => `tag:yaml.org,2002:${t}`));

/** A decoded YAML value before the JSON conversion (scalars keep their resolved kind for keys). */
type YamlValue = Resolved | YamlValue[] | Map<string, YamlValue>;

class YamlDecoder {
  private visited = 0;
  constructor(private readonly doc: Document.Parsed) {}

  decode(node: unknown): YamlValue {
    if (++this.visited > MAX_NODES) throw new BuiltinError('yaml: document contains excessive aliasing');
    if (node === null || node === undefined) return { tag: 'null', value: null };
    if (isAlias(node)) return this.decode(node.resolve(this.doc));
    if (isScalar(node)) return scalarValue(node);
    if (isSeq(node)) return node.items.map((item) => this.decode(item));
    if (isMap(node)) return this.mapping(node.items);
    throw new BuiltinError('yaml: unsupported node');
  }

  private mapping(items: unknown[]): Map<string, YamlValue> {
    const out = new Map<string, YamlValue>();
    for (const pair of items) {
      if (!isPair(pair)) continue;
      if (isMergeKey(pair.key)) {
        this.merge(pair.value, out);
        continue;
      }
      out.set(jsonKey(this.decode(pair.key)), this.decode(pair.value));
    }
    return out;
  }

  /** v2 merges in document order, so a merge overrides keys set before it; in a list, earlier maps win. */
  private merge(node: unknown, out: Map<string, YamlValue>): void {
    const target = isAlias(node) ? node.resolve(this.doc) : node;
    const sources = isSeq(target) ? [...target.items].reverse() : [target];
    for (const source of sources) {
      const value = this.decode(source);
      if (!(value instanceof Map)) throw new BuiltinError('yaml: map merge requires map or sequence of maps as the value');
      for (const [k, v] of value) out.set(k, v);
    }
  }
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && key.type === Scalar.PLAIN && key.tag === undefined && key.source === '<<';
}

function scalarValue(node: Scalar): Resolved {
  const text = String(node.source ?? node.value ?? '');
  const tag = node.tag;
  if (tag === BINARY_TAG) return { tag: 'str', value: Buffer.from(text.replace(/\s/g, ''), 'base64').toString('utf8') };
  if (tag === STR_TAG || (tag === undefined && node.type !== Scalar.PLAIN)) return { tag: 'str', value: text };
  if (tag !== undefined && !RESOLVABLE_TAGS.has(tag)) return { tag: 'str', value: text };
  const r = resolvePlain(text);
  if (tag === undefined || tag.endsWith(`:${r.tag}`)) return r;
  if (tag.endsWith(':float') && r.tag === 'int') return { tag: 'float', value: Number(r.value) };
  throw new BuiltinError(`yaml: cannot decode !!${r.tag} \`${text}\` as a ${tag}`);
}

/** sigs.k8s.io/yaml's key conversion: scalars become strings, null and composite keys are errors. */
function jsonKey(key: YamlValue): string {
  if (Array.isArray(key) || key instanceof Map) throw new BuiltinError('yaml: invalid map key');
  switch (key.tag) {
    case 'str':
    case 'timestamp':
      return key.value;
    case 'bool':
      return key.value ? 'true' : 'false';
    case 'int':
      if (key.value > INT64_MAX) throw new BuiltinError(`unsupported map key of type: uint64, key: ${key.value}`);
      return key.value.toString();
    case 'float':
      if (Number.isNaN(key.value)) return '.nan';
      if (!Number.isFinite(key.value)) return key.value > 0 ? '.inf' : '-.inf';
      return formatGoFloat(key.value, 'g', -1, 32);
    case 'null':
      throw new BuiltinError('unsupported map key of type: <nil>');
  }
}

function toJson(v: YamlValue): BuiltinResult {
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof Map) {
    const out: ResultObject = {};
    for (const [k, item] of v) setOwn(out, k, toJson(item));
    return out;
  }
  switch (v.tag) {
    case 'int':
      return integerResult(v.value);
    case 'float':
      if (!Number.isFinite(v.value)) throw new BuiltinError(`json: unsupported value: ${v.value}`);
      return v.value;
    default:
      return v.value;
  }
}

function firstDocument(text: string): Document.Parsed | undefined {
  const docs = parseAllDocuments(text, { version: '1.1', schema: 'failsafe', uniqueKeys: false, prettyErrors: false });
  if (!Array.isArray(docs)) return undefined;
  const doc = docs[0];
  if (doc !== undefined && doc.errors.length > 0) throw new BuiltinError(`yaml: ${doc.errors[0]?.message ?? 'invalid document'}`);
  return doc;
}

function yamlUnmarshal(text: string): BuiltinResult {
  const doc = firstDocument(text);
  if (doc === undefined) return null;
  return toJson(new YamlDecoder(doc).decode(doc.contents));
}

/** sigs.k8s.io/yaml's Unmarshal goes through JSON too, so a document valid YAML but not JSON is invalid. */
function yamlIsValid(v: BuiltinValue | undefined): boolean {
  if (typeof v !== 'string') return false;
  try {
    yamlUnmarshal(v);
    return true;
  } catch (e) {
    if (e instanceof BuiltinError) return false;
    throw e;
  }
}

// ---- marshal: go-yaml v2 emitter -------------------------------------------------------------------

const BEST_WIDTH = 80;
const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
// First characters that make a plain scalar ambiguous in block context.
const INDICATORS_FIRST = '#,[]{}&*!|>\'"%@`';

function isBreak(c: string): boolean {
  return c === '\r' || c === '\n' || c === '\u0085' || c === '\u2028' || c === '\u2029';
}

function isBlankOrEnd(c: string | undefined): boolean {
  return c === undefined || c === ' ' || c === '\t' || isBreak(c);
}

/** libyaml's is_printable as the Go port applies it (characters beyond the BMP count as special). */
function isPrintable(c: string): boolean {
  const cp = c.codePointAt(0) ?? 0;
  if (cp === 0x0a || (cp >= 0x20 && cp <= 0x7e)) return true;
  if (cp >= 0xa0 && cp <= 0xd7ff) return true;
  return cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff;
}

interface ScalarAnalysis {
  multiline: boolean;
  blockPlainAllowed: boolean;
  singleQuotedAllowed: boolean;
  blockAllowed: boolean;
}

/** libyaml's yaml_emitter_analyze_scalar (block context). */
function analyzeScalar(s: string): ScalarAnalysis {
  const chars = [...s];
  if (chars.length === 0) return { multiline: false, blockPlainAllowed: true, singleQuotedAllowed: true, blockAllowed: false };
  let blockIndicators = s.startsWith('---') || s.startsWith('...');
  let specialCharacters = false;
  let lineBreaks = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  let precededByWhitespace = true;
  const last = chars.length - 1;
  chars.forEach((c, i) => {
    const followedByWhitespace = isBlankOrEnd(chars[i + 1]);
    if (i === 0) {
      if (INDICATORS_FIRST.includes(c)) blockIndicators = true;
      if ((c === '?' || c === ':' || c === '-') && followedByWhitespace) blockIndicators = true;
    } else if (c === ':' && followedByWhitespace) blockIndicators = true;
    else if (c === '#' && precededByWhitespace) blockIndicators = true;
    if (!isPrintable(c)) specialCharacters = true;
    if (isBreak(c)) lineBreaks = true;
    if (c === ' ') {
      if (i === 0) leadingSpace = true;
      if (i === last) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreak(c)) {
      if (i === 0) leadingBreak = true;
      if (i === last) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousBreak = true;
      previousSpace = false;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = isBlankOrEnd(c);
  });
  let blockPlain = !(leadingSpace || leadingBreak || trailingSpace || trailingBreak);
  let single = true;
  let block = !trailingSpace;
  if (breakSpace) blockPlain = single = false;
  if (spaceBreak || specialCharacters) blockPlain = single = block = false;
  if (lineBreaks || blockIndicators) blockPlain = false;
  return { multiline: lineBreaks, blockPlainAllowed: blockPlain, singleQuotedAllowed: single, blockAllowed: block };
}

type Style = 'plain' | 'single' | 'double' | 'literal';

/** go-yaml v2's stringv style request, then libyaml's select_scalar_style. */
function scalarStyle(s: string, simpleKey: boolean): Style {
  const a = analyzeScalar(s);
  let style: Style;
  if (s.includes('\n')) style = 'literal';
  else style = resolvePlain(s).tag === 'str' && !BASE60_FLOAT.test(s) ? 'plain' : 'double';
  if (style === 'plain' && !a.blockPlainAllowed) style = 'single';
  if (style === 'single' && !a.singleQuotedAllowed) style = 'double';
  if (style === 'literal' && (!a.blockAllowed || simpleKey)) style = 'double';
  return style;
}

const DOUBLE_ESCAPES: ReadonlyMap<string, string> = new Map([
  ['\0', '0'], ['\x07', 'a'], ['\b', 'b'], ['\t', 't'], ['\n', 'n'], ['\v', 'v'], ['\f', 'f'], ['\r', 'r'], ['\x1b', 'e'],
  ['"', '"'], ['\\', '\\'], ['\u0085', 'N'], ['\u00a0', '_'], ['\u2028', 'L'], ['\u2029', 'P'],
]);

function doubleEscape(c: string): string {
  const known = DOUBLE_ESCAPES.get(c);
  if (known !== undefined) return '\\' + known;
  const cp = c.codePointAt(0) ?? 0;
  const hex = cp.toString(16).toUpperCase();
  if (cp <= 0xff) return '\\x' + hex.padStart(2, '0');
  if (cp <= 0xffff) return '\\u' + hex.padStart(4, '0');
  return '\\U' + hex.padStart(8, '0');
}

function goNaturalLess(a: string, b: string): boolean {
  const ar = [...a];
  const br = [...b];
  const isLetter = (c: string): boolean => /\p{L}/u.test(c);
  const isDigit = (c: string | undefined): boolean => c !== undefined && /\p{Nd}/u.test(c);
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const x = ar[i] ?? '';
    const y = br[i] ?? '';
    if (x === y) continue;
    const al = isLetter(x);
    const bl = isLetter(y);
    if (al && bl) return (x.codePointAt(0) ?? 0) < (y.codePointAt(0) ?? 0);
    if (al || bl) return bl;
    let an = 0;
    let bn = 0;
    if (x === '0' || y === '0') {
      for (let j = i - 1; j >= 0 && isDigit(ar[j]); j--) {
        if (ar[j] !== '0') {
          an = 1;
          bn = 1;
          break;
        }
      }
    }
    let ai = i;
    let bi = i;
    for (; ai < ar.length && isDigit(ar[ai]); ai++) an = an * 10 + Number(ar[ai]);
    for (; bi < br.length && isDigit(br[bi]); bi++) bn = bn * 10 + Number(br[bi]);
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return (x.codePointAt(0) ?? 0) < (y.codePointAt(0) ?? 0);
  }
  return ar.length < br.length;
}

/** The text go-yaml v2 gives a JSON number after reading it back (ints exact, floats as %g). */
function numberText(v: number | bigint): string {
  if (typeof v === 'bigint') return v >= INT64_MIN && v <= UINT64_MAX ? v.toString() : formatGoFloat(Number(v), 'g', -1);
  return Number.isSafeInteger(v) ? String(v) : formatGoFloat(v, 'g', -1);
}

class YamlEmitter {
  private out = '';
  private column = 0;

  text(): string {
    return this.column > 0 ? this.out + '\n' : this.out;
  }

  private write(s: string): void {
    this.out += s;
    const nl = s.lastIndexOf('\n');
    this.column = nl < 0 ? this.column + [...s].length : [...s.slice(nl + 1)].length;
  }

  private indent(indent: number): void {
    if (this.column > 0) this.write('\n');
    this.write(' '.repeat(indent));
  }

  document(v: BuiltinResult): void {
    if (Array.isArray(v) && v.length > 0) this.sequence(v, 0, true);
    else if (isObject(v) && Object.keys(v).length > 0) this.mapping(v, 0, true);
    // A root block scalar is indented like a mapping value.
    else this.leaf(v, 2, false);
  }

  private mapping(obj: ResultObject, indent: number, firstInline: boolean): void {
    const keys = Object.keys(obj).sort((a, b) => (goNaturalLess(a, b) ? -1 : goNaturalLess(b, a) ? 1 : 0));
    keys.forEach((k, i) => {
      if (i > 0 || !firstInline) this.indent(indent);
      const simple = [...k].length <= 128 && !analyzeScalar(k).multiline;
      if (simple) {
        this.scalar(k, indent, true);
        this.write(':');
      } else {
        this.write('? ');
        this.scalar(k, indent + 2, false);
        this.indent(indent);
        this.write(':');
      }
      this.mapValue(obj[k] ?? null, indent);
    });
  }

  private mapValue(v: BuiltinResult, indent: number): void {
    if (Array.isArray(v) && v.length > 0) this.sequence(v, indent, false);
    else if (isObject(v) && Object.keys(v).length > 0) this.mapping(v, indent + 2, false);
    else {
      this.write(' ');
      this.leaf(v, indent + 2, false);
    }
  }

  private sequence(items: BuiltinResult[], indent: number, firstInline: boolean): void {
    items.forEach((item, i) => {
      if (i > 0 || !firstInline) this.indent(indent);
      this.write('- ');
      if (Array.isArray(item) && item.length > 0) this.sequence(item, indent + 2, true);
      else if (isObject(item) && Object.keys(item).length > 0) this.mapping(item, indent + 2, true);
      else this.leaf(item, indent + 2, false);
    });
  }

  private leaf(v: BuiltinResult, indent: number, simpleKey: boolean): void {
    if (v === null) this.write('null');
    else if (typeof v === 'boolean') this.write(v ? 'true' : 'false');
    else if (typeof v === 'number' || typeof v === 'bigint') this.write(numberText(v));
    else if (typeof v === 'string') this.scalar(v, indent, simpleKey);
    else this.write(Array.isArray(v) ? '[]' : '{}');
  }

  private scalar(s: string, indent: number, simpleKey: boolean): void {
    switch (scalarStyle(s, simpleKey)) {
      case 'plain':
        return this.folded(s, indent, !simpleKey, '', false);
      case 'single':
        return this.folded(s, indent, !simpleKey, "'", true);
      case 'double':
        return this.doubleQuoted(s, indent, !simpleKey);
      case 'literal':
        return this.literal(s, indent);
    }
  }

  /** Plain and single-quoted scalars: a space past the best width becomes a line break. */
  private folded(s: string, indent: number, allowBreaks: boolean, quote: string, quoted: boolean): void {
    this.write(quote);
    const chars = [...s];
    let spaces = false;
    chars.forEach((c, i) => {
      if (c === ' ') {
        const edge = quoted && (i === 0 || i === chars.length - 1);
        if (allowBreaks && !spaces && this.column > BEST_WIDTH && !edge && chars[i + 1] !== ' ') this.indent(indent);
        else this.write(c);
        spaces = true;
      } else {
        this.write(quoted && c === "'" ? "''" : c);
        spaces = false;
      }
    });
    this.write(quote);
  }

  private doubleQuoted(s: string, indent: number, allowBreaks: boolean): void {
    this.write('"');
    const chars = [...s];
    let spaces = false;
    chars.forEach((c, i) => {
      if (!isPrintable(c) || c === '\ufeff' || isBreak(c) || c === '"' || c === '\\') {
        this.write(doubleEscape(c));
        spaces = false;
      } else if (c === ' ') {
        if (allowBreaks && !spaces && this.column > BEST_WIDTH && i !== 0 && i !== chars.length - 1) {
          this.indent(indent);
          if (chars[i + 1] === ' ') this.write('\\');
        } else this.write(c);
        spaces = true;
      } else {
        this.write(c);
        spaces = false;
      }
    });
    this.write('"');
  }

  private literal(s: string, indent: number): void {
    const first = s.charAt(0);
    const lastBreak = s.endsWith('\n');
    const keep = lastBreak && (s.length === 1 || s.charAt(s.length - 2) === '\n');
    const chomp = !lastBreak ? '-' : keep ? '+' : '';
    this.write('|' + (first === ' ' || first === '\n' ? '2' : '') + chomp);
    const body = s.split('\n').map((line) => (line === '' ? '' : ' '.repeat(indent) + line));
    this.write('\n' + body.join('\n'));
  }
}

/**
 * The value as Go OPA hands it to the YAML encoder (ast.JSON): sets become arrays in set order, and a
 * number whose text matters becomes the float64 go-yaml reads back from that text.
 */
function jsonView(v: BuiltinValue): BuiltinResult {
  if (v instanceof RegoSet) return v.members.map(jsonView);
  if (v instanceof RegoNumber) return Number(v.text);
  if (Array.isArray(v)) return v.map(jsonView);
  if (!isObject(v)) return v;
  const out: ResultObject = {};
  for (const [k, item] of Object.entries(v)) setOwn(out, k, jsonView(item));
  return out;
}

function yamlMarshal(v: BuiltinValue | undefined): string {
  const e = new YamlEmitter();
  e.document(jsonView(v ?? null));
  return e.text();
}

export const yamlBuiltins: ReadonlyArray<readonly [string, BuiltinFn]> = [
  ['yaml.marshal', (v) => yamlMarshal(v)],
  ['yaml.unmarshal', (s) => yamlUnmarshal(stringOperand(s, 1))],
  ['yaml.is_valid', (s) => yamlIsValid(s)],
];
