// Signed bundles, verified as OPA 1.19 verifies them (bundle/verify.go, bundle/hash.go and the checks in
// bundle.Reader.Read): `.signatures.json` holds exactly one JWT; its key is the configured `keyid`, else
// the JWT header's `kid`, else the payload's deprecated `keyid` claim; the signature is checked with the
// algorithm of the configured key (the header's `alg` is not consulted, as in OPA); the payload's scope
// must equal the configured one; then every file of the bundle must be listed with a matching digest and
// every listed file must be in the bundle. JSON documents are hashed in OPA's canonical form, so that
// whitespace and key order do not matter but number text does.
import { constants, createHash, createHmac, timingSafeEqual, verify as verifySignature, type KeyObject } from 'node:crypto';
import { ConfigValueError, SectionReader } from '../services/config-values.js';
import type { BundleKey, SigningAlgorithm } from './keys.js';

export class BundleSignatureError extends Error {
  override readonly name = 'BundleSignatureError';
}

export class SigningConfigError extends ConfigValueError {
  override readonly name = 'SigningConfigError';
}

/** A bundle's (or discovery's) `signing` section. */
export interface SigningConfig {
  keyid?: string;
  scope?: string;
  exclude_files?: string[];
}

/**
 * Reads a `signing` section (`section` names it in messages). As OPA, a `keyid` must name a configured
 * key. Absent section: undefined, unless keys are configured, in which case OPA verifies with an empty
 * configuration (signed bundles are checked, unsigned ones accepted): that is returned as `{}`.
 */
export function parseSigningConfig(doc: unknown, keys: ReadonlyMap<string, BundleKey>, section: string): SigningConfig | undefined {
  if (doc === undefined || doc === null) return keys.size > 0 ? {} : undefined;
  try {
    const r = SectionReader.of(section, doc);
    const keyid = r.string('keyid') ?? '';
    const scope = r.string('scope') ?? '';
    const exclude = r.stringList('exclude_files');
    if (keyid !== '' && !keys.has(keyid)) throw new SigningConfigError(`key id ${keyid} not found`);
    return { ...(keyid ? { keyid } : {}), ...(scope ? { scope } : {}), ...(exclude.length > 0 ? { exclude_files: exclude } : {}) };
  } catch (err) {
    if (err instanceof ConfigValueError && !(err instanceof SigningConfigError)) throw new SigningConfigError(err.message);
    throw err;
  }
}

const SIGNATURES_SUFFIX = 'signatures.json';
const DEFAULT_VERIFIER = '_default';

interface FileInfo {
  name: string;
  hash: string;
  algorithm: string;
}

/**
 * Verifies a bundle's files (paths as readTar gives them) against its signature. `signing` undefined
 * means the bundle has no signing configuration: a signed bundle is then refused, as OPA does.
 * Throws BundleSignatureError with OPA's message.
 */
export async function verifyBundle(files: ReadonlyMap<string, Uint8Array>, signing: SigningConfig | undefined, keys: ReadonlyMap<string, BundleKey>): Promise<void> {
  const signatures = readSignatures(files);
  if (signatures === undefined) {
    if (signing?.keyid) throw new BundleSignatureError('bundle missing .signatures.json file');
    return;
  }
  if (!signing) throw new BundleSignatureError('verification key not provided');
  // opa build names its own verifier "_default"; OPA has no other unless compiled in.
  if (signatures.plugin && signatures.plugin !== DEFAULT_VERIFIER) throw new BundleSignatureError(`no verifier exists under id ${signatures.plugin}`);
  const list = signatures.signatures ?? [];
  if (list.length === 0) throw new BundleSignatureError('.signatures.json: missing JWT (expected exactly one)');
  if (list.length > 1) throw new BundleSignatureError('.signatures.json: multiple JWTs not supported (expected exactly one)');
  const listed = verifyToken(list[0]!, signing, keys);
  checkFiles(files, listed, signing.exclude_files ?? []);
}

interface SignaturesDoc {
  signatures?: string[] | null;
  plugin?: string;
}

/** OPA takes every file whose path ends in "signatures.json" as the signatures document (later ones overlay earlier ones). */
function readSignatures(files: ReadonlyMap<string, Uint8Array>): SignaturesDoc | undefined {
  let doc: SignaturesDoc = {};
  let found = false;
  for (const [path, bytes] of files) {
    if (!path.endsWith(SIGNATURES_SUFFIX)) continue;
    found = true;
    doc = { ...doc, ...decodeSignatures(bytes) };
  }
  // OPA's "empty" signatures: no list (or null) and no plugin, as if the file were absent.
  if (!found || ((doc.signatures === undefined || doc.signatures === null) && !doc.plugin)) return undefined;
  return doc;
}

function decodeSignatures(bytes: Uint8Array): SignaturesDoc {
  const fail = (why: string) => new BundleSignatureError(`bundle load failed on signatures decode: ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(utf8(bytes));
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (value === null) return {};
  if (!isRecord(value)) throw fail(`json: cannot unmarshal ${jsonKind(value)} into Go value of type bundle.SignaturesConfig`);
  const out: SignaturesDoc = {};
  const sigs = value.signatures;
  if (sigs !== undefined) {
    if (sigs !== null && (!Array.isArray(sigs) || sigs.some((s) => typeof s !== 'string'))) {
      throw fail(`json: cannot unmarshal ${jsonKind(sigs)} into Go struct field SignaturesConfig.signatures of type []string`);
    }
    out.signatures = sigs as string[] | null;
  }
  if (value.plugin !== undefined && value.plugin !== null) {
    if (typeof value.plugin !== 'string') throw fail(`json: cannot unmarshal ${jsonKind(value.plugin)} into Go struct field SignaturesConfig.plugin of type string`);
    out.plugin = value.plugin;
  }
  return out;
}

/** Checks the JWT and returns the files its payload lists, by name. */
function verifyToken(token: string, signing: SigningConfig, keys: ReadonlyMap<string, BundleKey>): Map<string, FileInfo> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new BundleSignatureError('failed to split compact JWT: jwsbb: invalid number of segments');
  const [headerB64, payloadB64, signatureB64] = parts as [string, string, string];
  let keyId = signing.keyid ?? '';
  if (keyId === '') keyId = headerKid(headerB64);
  const payloadBytes = base64url(payloadB64, 'failed to base64 decode JWT payload');
  const payload = decodePayload(payloadBytes);
  if (keyId === '') keyId = payload.keyid;
  if (keyId === '') throw new BundleSignatureError('verification key ID is empty');
  const key = keys.get(keyId);
  if (!key) throw new BundleSignatureError(`verification key corresponding to ID ${keyId} not found`);
  let keyObject: KeyObject;
  try {
    keyObject = key.keyObject();
  } catch (err) {
    throw new BundleSignatureError((err as Error).message);
  }
  const signature = base64url(signatureB64, 'failed to base64 decode JWT signature');
  const problem = signatureProblem(key.algorithm, keyObject, Buffer.from(`${headerB64}.${payloadB64}`, 'latin1'), signature);
  if (problem) throw new BundleSignatureError(`failed to verify JWT signature: ${problem}`);
  const scope = signing.scope || key.scope;
  if (payload.scope !== scope) throw new BundleSignatureError('scope mismatch');
  return new Map(payload.files.map((f) => [f.name, f]));
}

function headerKid(headerB64: string): string {
  let header: unknown;
  try {
    header = JSON.parse(utf8(base64url(headerB64, 'failed to decode header')));
  } catch (err) {
    throw new BundleSignatureError(`failed to extract key ID from headers: ${(err as Error).message}`);
  }
  const kid = isRecord(header) ? header.kid : undefined;
  if (kid === undefined) return '';
  if (typeof kid !== 'string') throw new BundleSignatureError(`failed to extract key ID from headers: header "kid" is not a string (got ${jsonKind(kid)})`);
  return kid;
}

interface Payload {
  files: FileInfo[];
  keyid: string;
  scope: string;
}

/** The payload as Go decodes it into DecodedSignature: missing strings are "", a wrong type is an error. */
function decodePayload(bytes: Uint8Array): Payload {
  let value: unknown;
  try {
    value = JSON.parse(utf8(bytes));
  } catch (err) {
    throw new BundleSignatureError((err as Error).message);
  }
  if (value === null) return { files: [], keyid: '', scope: '' };
  if (!isRecord(value)) throw new BundleSignatureError(`json: cannot unmarshal ${jsonKind(value)} into Go value of type bundle.DecodedSignature`);
  const str = (v: unknown, field: string): string => {
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw new BundleSignatureError(`json: cannot unmarshal ${jsonKind(v)} into Go struct field DecodedSignature.${field} of type string`);
    return v;
  };
  if (value.iat !== undefined && value.iat !== null && !Number.isInteger(value.iat)) {
    throw new BundleSignatureError(`json: cannot unmarshal ${jsonKind(value.iat)} into Go struct field DecodedSignature.iat of type int64`);
  }
  str(value.iss, 'iss');
  const rawFiles = value.files ?? [];
  if (!Array.isArray(rawFiles)) throw new BundleSignatureError(`json: cannot unmarshal ${jsonKind(rawFiles)} into Go struct field DecodedSignature.files of type []bundle.FileInfo`);
  const files = rawFiles.map((f: unknown): FileInfo => {
    if (f === null) return { name: '', hash: '', algorithm: '' };
    if (!isRecord(f)) throw new BundleSignatureError(`json: cannot unmarshal ${jsonKind(f)} into Go struct field DecodedSignature.files of type bundle.FileInfo`);
    return { name: str(f.name, 'files.name'), hash: str(f.hash, 'files.hash'), algorithm: str(f.algorithm, 'files.algorithm') };
  });
  return { files, keyid: str(value.keyid, 'keyid'), scope: str(value.scope, 'scope') };
}

const DIGESTS: Readonly<Record<string, string>> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
// ECDSA signatures are r||s, each as long as the curve's order (RFC 7515).
const CURVES: Readonly<Record<string, { name: string; size: number }>> = {
  prime256v1: { name: 'P-256', size: 32 },
  secp384r1: { name: 'P-384', size: 48 },
  secp521r1: { name: 'P-521', size: 66 },
};

/** undefined when the signature is good, else the reason in the words of OPA's JWS library. */
function signatureProblem(alg: SigningAlgorithm, key: KeyObject, signed: Buffer, signature: Buffer): string | undefined {
  const digest = DIGESTS[alg.slice(2)]!;
  const family = alg.slice(0, 2);
  if (family === 'HS') {
    const expected = createHmac(digest, key).update(signed).digest();
    return expected.length === signature.length && timingSafeEqual(expected, signature) ? undefined : 'invalid HMAC signature';
  }
  const type = key.asymmetricKeyType;
  if (family === 'ES') {
    const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (type !== 'ec' || !curve) return `jwsbb.Verify: invalid key type ${type ?? 'unknown'}. *ecdsa.PublicKey is required`;
    if (signature.length !== curve.size * 2) return `dsig.VerifyECDSA: failed to unpack ECDSA signature: invalid signature length for curve "${curve.name}"`;
    return verifySignature(digest, signed, { key, dsaEncoding: 'ieee-p1363' }, signature) ? undefined : 'invalid ECDSA signature';
  }
  if (type !== 'rsa' && type !== 'rsa-pss') return `jwsbb.Verify: invalid key type ${type ?? 'unknown'}. *rsa.PublicKey is required`;
  const padding = family === 'PS'
    ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
    : { padding: constants.RSA_PKCS1_PADDING };
  return verifySignature(digest, signed, { key, ...padding }, signature) ? undefined : 'crypto/rsa: verification error';
}

/** Walks the bundle in archive order as OPA's reader does: first problem wins; listed files left over fail at the end. */
function checkFiles(files: ReadonlyMap<string, Uint8Array>, listed: Map<string, FileInfo>, exclude: readonly string[]): void {
  const excluded = exclude.map(globToRegExp).filter((re): re is RegExp => re !== undefined);
  for (const [path, bytes] of files) {
    if (path.endsWith(SIGNATURES_SUFFIX)) continue;
    if (excluded.some((re) => re.test(path))) {
      listed.delete(path);
      continue;
    }
    verifyFile(path, bytes, listed);
  }
  if (listed.size > 0) {
    throw new BundleSignatureError(`file(s) [${[...listed.keys()].sort().join(' ')}] specified in bundle signatures but not found in the target bundle`);
  }
}

const HASHES: Readonly<Record<string, string>> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
};

const STRUCTURED = new Set(['data.json', 'data.yaml', SIGNATURES_SUFFIX, '.manifest']);

function verifyFile(path: string, bytes: Uint8Array, listed: Map<string, FileInfo>): void {
  const info = listed.get(path);
  if (!info) throw new BundleSignatureError(`file ${path} not included in bundle signature`);
  if (info.algorithm === '') throw new BundleSignatureError(`no hashing algorithm provided for file ${path}`);
  const hashName = HASHES[info.algorithm];
  if (!hashName) throw new BundleSignatureError(`unsupported hashing algorithm: ${info.algorithm}`);
  const content = STRUCTURED.has(path.slice(path.lastIndexOf('/') + 1)) ? canonicalJson(bytes, path) : bytes;
  const got = createHash(hashName).update(content).digest('hex');
  const want = decodeHex(info.hash);
  if (want !== got) throw new BundleSignatureError(`${path}: digest mismatch (want: ${want}, got: ${got})`);
  listed.delete(path);
}

// ---- OPA's canonical form of a JSON document (bundle/hash.go) ----
// Objects with keys in byte order, no whitespace, numbers as written, strings as Go's encoder writes them
// with HTML escaping off (so only U+2028 and U+2029 differ from JSON.stringify).

/** The canonical text of a JSON (or YAML data) file, as the bytes OPA hashes. */
export function canonicalJson(bytes: Uint8Array, path: string): Buffer {
  let text = utf8(bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    JSON.parse(text);
  } catch (err) {
    if (path.endsWith('.yaml')) throw new BundleSignatureError(`${path}: YAML data files cannot be verified by kmesh-opa`);
    throw new BundleSignatureError(`${path}: ${(err as Error).message}`);
  }
  return Buffer.from(new CanonicalWriter(text).document(), 'utf8');
}

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
const STRING_BODY = /"(?:[^"\\]|\\.)*"/y;
const LINE_SEPARATORS = /[\u2028\u2029]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Rewrites already validated JSON text into the canonical form in one pass. */
class CanonicalWriter {
  private pos = 0;
  constructor(private readonly text: string) {}

  document(): string {
    return this.value();
  }

  private skip(): void {
    while (' \t\n\r'.includes(this.text.charAt(this.pos)) && this.pos < this.text.length) this.pos++;
  }

  private value(): string {
    this.skip();
    const c = this.text.charAt(this.pos);
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return goString(this.rawString());
    for (const word of ['true', 'false', 'null']) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return word;
      }
    }
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text)!;
    this.pos += m[0].length;
    return m[0];
  }

  private object(): string {
    this.pos++;
    // A repeated key keeps its last value, as Go's decoder into a map does.
    const members = new Map<string, string>();
    this.skip();
    if (this.text.charAt(this.pos) === '}') {
      this.pos++;
      return '{}';
    }
    for (;;) {
      this.skip();
      const key = this.rawString();
      this.skip();
      this.pos++; // ':'
      members.set(key, this.value());
      this.skip();
      if (this.text.charAt(this.pos++) === '}') break;
    }
    const keys = [...members.keys()].sort(compareUtf8);
    return `{${keys.map((k) => `${goString(k)}:${members.get(k)!}`).join(',')}}`;
  }

  private array(): string {
    this.pos++;
    const items: string[] = [];
    this.skip();
    if (this.text.charAt(this.pos) === ']') {
      this.pos++;
      return '[]';
    }
    for (;;) {
      items.push(this.value());
      this.skip();
      if (this.text.charAt(this.pos++) === ']') break;
    }
    return `[${items.join(',')}]`;
  }

  private rawString(): string {
    STRING_BODY.lastIndex = this.pos;
    const m = STRING_BODY.exec(this.text)!;
    this.pos += m[0].length;
    return JSON.parse(m[0]) as string;
  }
}

/** encoding/json's text for a string, HTML escaping off; an unpaired surrogate decodes to U+FFFD in Go. */
function goString(s: string): string {
  return JSON.stringify(s.replace(LONE_SURROGATE, '\uFFFD')).replace(LINE_SEPARATORS, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029'));
}

/** Go sorts map keys by their UTF-8 bytes; UTF-16 order differs only for astral characters. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ---- Go's filepath.Match, for exclude_files ----

/** A Go glob as an anchored RegExp; undefined for a malformed pattern (Go's ErrBadPattern never matches). */
function globToRegExp(pattern: string): RegExp | undefined {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\') {
      if (++i >= pattern.length) return undefined;
      out += escapeRegExp(pattern[i]!);
    } else if (c === '[') {
      const cls = charClass(pattern, i);
      if (!cls) return undefined;
      out += cls.regex;
      i = cls.end;
    } else out += escapeRegExp(c);
  }
  return new RegExp(`^${out}$`);
}

/** Go's character class: `[` [`^`] ranges `]`, at least one range; a reversed range matches nothing (no error). */
function charClass(pattern: string, start: number): { regex: string; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (pattern[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let ranges = 0;
  while (ranges === 0 || pattern[i] !== ']') {
    const lo = classChar(pattern, i);
    if (!lo) return undefined;
    i = lo.next;
    if (pattern[i] === '-') {
      const hi = classChar(pattern, i + 1);
      if (!hi) return undefined;
      if (lo.ch <= hi.ch) body += `${escapeRegExp(lo.ch)}-${escapeRegExp(hi.ch)}`;
      i = hi.next;
    } else body += escapeRegExp(lo.ch);
    ranges++;
  }
  return { regex: `[${negate ? '^' : ''}${body}]`, end: i };
}

/** One class character, `\\` escaping the next; a bare `-` or `]`, or the pattern's end, is malformed. */
function classChar(pattern: string, i: number): { ch: string; next: number } | undefined {
  const ch = pattern[i];
  if (ch === undefined || ch === '-' || ch === ']') return undefined;
  if (ch !== '\\') return { ch, next: i + 1 };
  const escaped = pattern[i + 1];
  return escaped === undefined ? undefined : { ch: escaped, next: i + 2 };
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

// ---- small helpers ----

/** Go's hex.DecodeString checks, with its messages; the digest in lower case. */
function decodeHex(hex: string): string {
  const bad = hex.search(/[^0-9a-fA-F]/);
  if (bad !== -1) {
    const cp = hex.codePointAt(bad)!;
    throw new BundleSignatureError(`encoding/hex: invalid byte: U+${cp.toString(16).toUpperCase().padStart(4, '0')} '${String.fromCodePoint(cp)}'`);
  }
  if (hex.length % 2 === 1) throw new BundleSignatureError('encoding/hex: odd length hex string');
  return hex.toLowerCase();
}

const RAW_URL_BASE64 = /^[A-Za-z0-9_-]*$/;

/** Go's base64.RawURLEncoding: no padding, no other alphabet, no stray characters. */
function base64url(text: string, what: string): Buffer {
  const bad = RAW_URL_BASE64.test(text) ? (text.length % 4 === 1 ? text.length - 1 : -1) : text.search(/[^A-Za-z0-9_-]/);
  if (bad !== -1) throw new BundleSignatureError(`${what}: illegal base64 data at input byte ${bad}`);
  return Buffer.from(text, 'base64url');
}

function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JSON type name Go's decoder puts in its messages. */
function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  return typeof v;
}
