// io.jwt.* builtins with Go OPA's decisions: which inputs are errors (the engine makes them
// undefined), which are a plain `false` / [false, {}, {}], and how exp/nbf/iss/aud are checked.
import {
  constants,
  createHmac,
  createSecretKey,
  timingSafeEqual,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { decodeBase64Url } from './encoding.js';
import { parseJson } from './json.js';
import { parseVerificationKeys, TOKEN_ALGORITHMS, type VerificationKey } from './jwt-keys.js';
import { parseFloat64 } from './numbers.js';
import {
  BoundedCache,
  BuiltinError,
  isNumber,
  isObject,
  numberText,
  objectOperand,
  stringOperand,
  type BuiltinFn,
  type BuiltinObject,
  type BuiltinResult,
  type BuiltinValue,
  type ResultObject,
} from './values.js';

const KEY_CACHE_SIZE = 256;

/** Imported keys of one policy instance, so a repeated secret/cert costs no key import. */
export class JwtKeyCache {
  private readonly certs = new BoundedCache<string, VerificationKey[] | BuiltinError>(KEY_CACHE_SIZE);
  private readonly secrets = new BoundedCache<string, KeyObject>(KEY_CACHE_SIZE);

  keys(certificate: string): VerificationKey[] {
    let entry = this.certs.get(certificate);
    if (entry === undefined) {
      try {
        entry = parseVerificationKeys(certificate);
      } catch (e) {
        if (!(e instanceof BuiltinError)) throw e;
        entry = e;
      }
      this.certs.set(certificate, entry);
    }
    if (entry instanceof BuiltinError) throw entry;
    return entry;
  }

  secret(secret: string): KeyObject {
    return this.secrets.get(secret) ?? this.secrets.set(secret, createSecretKey(Buffer.from(secret, 'utf8')));
  }
}

// ---- token structure ------------------------------------------------------------------------

interface Token {
  header: string;
  payload: string;
  signature: string;
}

function splitToken(jwt: BuiltinValue | undefined): Token {
  const s = stringOperand(jwt, 1);
  if (!s.includes('.')) throw new BuiltinError('encoded JWT had no period separators');
  const parts = s.split('.');
  if (parts.length !== 3) throw new BuiltinError(`encoded JWT must have 3 sections, found ${parts.length}`);
  const [header = '', payload = '', signature = ''] = parts;
  return { header, payload, signature };
}

function jsonObject(bytes: Buffer): ResultObject {
  const v = parseJson(bytes.toString('utf8'));
  if (!isObject(v)) throw new BuiltinError('decoded JSON type was not an Object');
  return v;
}

function decodeHeader(token: Token): ResultObject {
  const header = jsonObject(decodeBase64Url(token.header));
  if (header['enc'] !== undefined) throw new BuiltinError('JWT is a JWE object, which is not supported');
  return header;
}

interface TokenHeader {
  alg: string;
  kid: string;
  cty: string;
  /** Header names the token marks critical; undefined when there is no "crit". */
  crit: Set<string> | undefined;
  unknown: string[];
}

const STRING_HEADERS: ReadonlySet<string> = new Set(['alg', 'kid', 'typ', 'cty']);

function headerString(name: string, v: BuiltinValue | undefined): string {
  if (typeof v !== 'string') throw new BuiltinError(`${name}: must be a string`);
  return v;
}

function headerCrit(v: BuiltinValue | undefined): Set<string> {
  if (!Array.isArray(v)) throw new BuiltinError('crit: must be a list');
  const crit = new Set<string>();
  for (const e of v) {
    if (typeof e !== 'string') throw new BuiltinError('crit: must be a list of strings');
    crit.add(e);
  }
  if (crit.size === 0) throw new BuiltinError('crit: must be a nonempty list');
  return crit;
}

function parseTokenHeader(decoded: BuiltinObject): TokenHeader {
  const h: TokenHeader = { alg: '', kid: '', cty: '', crit: undefined, unknown: [] };
  for (const [name, v] of Object.entries(decoded)) {
    if (name === 'crit') h.crit = headerCrit(v);
    else if (!STRING_HEADERS.has(name)) h.unknown.push(name);
    else {
      const s = headerString(name, v);
      if (name === 'alg') h.alg = s;
      else if (name === 'kid') h.kid = s;
      else if (name === 'cty') h.cty = s;
    }
  }
  return h;
}

/** RFC 7515: alg is required, and a critical header we do not understand makes the token invalid. */
function headerValid(h: TokenHeader): boolean {
  return h.alg !== '' && !h.unknown.some((u) => h.crit?.has(u) === true);
}

// ---- signature primitives -------------------------------------------------------------------

const HASH_OF: ReadonlyMap<string, string> = new Map([
  ['256', 'sha256'],
  ['384', 'sha384'],
  ['512', 'sha512'],
]);

function hashFor(alg: string): string {
  return HASH_OF.get(alg.slice(2)) ?? 'sha256';
}

function hmacMatches(key: KeyObject, hash: string, input: string, signature: Buffer): boolean {
  const mac = createHmac(hash, key).update(input).digest();
  return mac.length === signature.length && timingSafeEqual(mac, signature);
}

// Go 1.24+ crypto/rsa refuses keys shorter than this in every operation.
const MIN_RSA_BITS = 1024;

function rsaMatches(key: KeyObject, hash: string, input: string, signature: Buffer, pssSalt: number | undefined): boolean {
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) return false;
  const padding = pssSalt === undefined ? constants.RSA_PKCS1_PADDING : constants.RSA_PKCS1_PSS_PADDING;
  try {
    return cryptoVerify(hash, Buffer.from(input), { key, padding, saltLength: pssSalt }, signature);
  } catch {
    return false;
  }
}

const EC_KEY_BYTES: ReadonlyMap<string, number> = new Map([
  ['prime256v1', 32],
  ['secp384r1', 48],
  ['secp521r1', 66],
  ['secp224r1', 28],
]);

function derInteger(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let v = bytes.subarray(i);
  if ((v[0] ?? 0) & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return Buffer.concat([Buffer.from([0x02]), derLength(v.length), v]);
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  return n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
}

/** ECDSA r||s split at the middle (Go OPA's verifyES) -> DER, so any length verifies as Go would. */
function ecdsaMatches(key: KeyObject, hash: string, input: string, signature: Buffer, exactLength: boolean): boolean {
  const keyBytes = EC_KEY_BYTES.get(key.asymmetricKeyDetails?.namedCurve ?? '');
  if (key.asymmetricKeyType !== 'ec' || keyBytes === undefined) return false;
  if (exactLength && signature.length !== 2 * keyBytes) return false;
  const half = Math.floor(signature.length / 2);
  const r = derInteger(signature.subarray(0, half));
  const s = derInteger(signature.subarray(half));
  const der = Buffer.concat([Buffer.from([0x30]), derLength(r.length + s.length), r, s]);
  try {
    return cryptoVerify(hash, Buffer.from(input), { key, dsaEncoding: 'der' }, der);
  } catch {
    return false;
  }
}

function ed25519Matches(key: KeyObject, input: string, signature: Buffer): boolean {
  if (key.asymmetricKeyType !== 'ed25519' || signature.length !== 64) return false;
  try {
    return cryptoVerify(null, Buffer.from(input), key, signature);
  } catch {
    return false;
  }
}

/** lestrrat-go/jwx jwsbb.Verify as io.jwt.decode_verify uses it: the header's alg picks the algorithm. */
function jwsVerify(key: KeyObject, alg: string, input: string, signature: Buffer): boolean {
  const family = alg === 'EdDSA' || alg === 'Ed25519' ? 'Ed' : alg.slice(0, 2);
  if (alg !== 'Ed25519' && !TOKEN_ALGORITHMS.has(alg)) return false;
  switch (family) {
    case 'HS':
      return key.type === 'secret' && key.symmetricKeySize !== 0 && hmacMatches(key, hashFor(alg), input, signature);
    case 'RS':
      return rsaMatches(key, hashFor(alg), input, signature, undefined);
    case 'PS':
      return rsaMatches(key, hashFor(alg), input, signature, constants.RSA_PSS_SALTLEN_DIGEST);
    case 'ES':
      return ecdsaMatches(key, hashFor(alg), input, signature, true);
    default:
      return ed25519Matches(key, input, signature);
  }
}

/**
 * Go OPA's key selection: a key whose kid equals the token's kid is the only one tried; otherwise
 * every key without an alg, and every key whose alg equals the token's, until one verifies.
 */
function verifyWithKeys(keys: readonly VerificationKey[], h: TokenHeader, check: (k: VerificationKey) => boolean): boolean {
  if (h.kid !== '') {
    const byKid = keys.find((k) => k.kid === h.kid);
    if (byKid !== undefined) return check(byKid);
  }
  return keys.some((k) => (k.alg === '' || k.alg === h.alg) && check(k));
}

// ---- io.jwt.decode ---------------------------------------------------------------------------

function trimQuotes(s: string): string {
  return s.replace(/^["']+|["']+$/g, '');
}

function jwtDecode(jwt: BuiltinValue | undefined): BuiltinResult {
  const token = splitToken(jwt);
  const header = decodeHeader(token);
  const payload = decodeBase64Url(token.payload);
  const cty = header['cty'];
  if (cty !== undefined) {
    // Go OPA asserts cty is a string (and panics otherwise); a nested token is itself decoded.
    if (headerString('cty', cty) === 'JWT') return jwtDecode(trimQuotes(payload.toString('utf8')));
  }
  const claims = jsonObject(payload);
  const signature = decodeBase64Url(token.signature).toString('hex');
  return [header, claims, signature];
}

// ---- io.jwt.verify_* -------------------------------------------------------------------------

type LegacyCheck = (key: VerificationKey, input: string, signature: Buffer) => boolean;

/** The pre-decode_verify builtins: errors for malformed input, otherwise true/false. */
function legacyVerifier(cache: JwtKeyCache, check: LegacyCheck): BuiltinFn {
  return (jwt, cert) => {
    const token = splitToken(jwt);
    const keys = cache.keys(stringOperand(cert, 2));
    const signature = decodeBase64Url(token.signature);
    const header = parseTokenHeader(decodeHeader(token));
    const input = `${token.header}.${token.payload}`;
    return verifyWithKeys(keys, header, (k) => !k.fromPrivate && check(k, input, signature));
  };
}

function hsVerifier(cache: JwtKeyCache, hash: string): BuiltinFn {
  return (jwt, secret) => {
    const key = cache.secret(stringOperand(secret, 2));
    const token = splitToken(jwt);
    return hmacMatches(key, hash, `${token.header}.${token.payload}`, decodeBase64Url(token.signature));
  };
}

// ---- io.jwt.decode_verify --------------------------------------------------------------------

interface Constraints {
  keys: VerificationKey[] | undefined;
  secret: string;
  alg: string;
  iss: string;
  aud: string;
  /** Nanoseconds since the epoch, as the float64 Go OPA holds it. */
  time: number | undefined;
}

function constraintString(name: string, v: BuiltinValue | undefined): string {
  if (typeof v !== 'string') throw new BuiltinError(`${name} constraint: must be a string`);
  return v;
}

function constraintTime(v: BuiltinValue | undefined): number {
  if (!isNumber(v)) throw new BuiltinError('token time constraint: must be a number');
  const t = parseFloat64(numberText(v));
  if (t === undefined) throw new BuiltinError('token time constraint: unvalid float64');
  if (t < 0) throw new BuiltinError('token time constraint: must not be negative');
  return t;
}

function parseConstraints(obj: BuiltinObject, cache: JwtKeyCache): Constraints {
  const c: Constraints = { keys: undefined, secret: '', alg: '', iss: '', aud: '', time: undefined };
  for (const [name, v] of Object.entries(obj)) {
    switch (name) {
      case 'cert':
        if (typeof v !== 'string') throw new BuiltinError('cert constraint: must be a string');
        c.keys = cache.keys(v);
        break;
      case 'secret':
      case 'alg':
      case 'iss':
      case 'aud':
        c[name] = constraintString(name, v);
        break;
      case 'time':
        c.time = constraintTime(v);
        break;
      default:
        throw new BuiltinError(`unknown token validation constraint: ${name}`);
    }
  }
  const keyConstraints = (c.keys !== undefined ? 1 : 0) + (c.secret !== '' ? 1 : 0);
  if (keyConstraints > 1) throw new BuiltinError('duplicate key constraints');
  if (keyConstraints < 1) throw new BuiltinError('no key constraint');
  return c;
}

function signatureVerified(c: Constraints, cache: JwtKeyCache, h: TokenHeader, input: string, signature: Buffer): boolean {
  if (c.keys !== undefined) return verifyWithKeys(c.keys, h, (k) => jwsVerify(k.key, h.alg, input, signature));
  return jwsVerify(cache.secret(c.secret), h.alg, input, signature);
}

function audienceValid(aud: BuiltinValue | undefined, wanted: string): boolean {
  if (typeof aud === 'string') return aud === wanted;
  return Array.isArray(aud) && aud.some((a) => a === wanted);
}

/** Go OPA compares the float64 seconds `time/1e9` with the claim's exact number. */
function compareSeconds(nowSeconds: number, claim: number | bigint): number {
  if (typeof claim === 'number') return nowSeconds < claim ? -1 : nowSeconds > claim ? 1 : 0;
  const whole = BigInt(Math.trunc(nowSeconds));
  if (whole !== claim) return whole < claim ? -1 : 1;
  const frac = nowSeconds - Math.trunc(nowSeconds);
  return frac > 0 ? 1 : frac < 0 ? -1 : 0;
}

function numericClaim(v: BuiltinValue, name: string): number | bigint {
  if (typeof v !== 'number' && typeof v !== 'bigint') throw new BuiltinError(`${name} value must be a number`);
  return v;
}

function claimsAccepted(payload: BuiltinObject, c: Constraints, timeNs: number): boolean {
  if (c.iss !== '') {
    const iss = payload['iss'];
    if (iss === undefined) return false;
    // Go OPA asserts iss is a string (and panics otherwise).
    if (typeof iss !== 'string') throw new BuiltinError('iss value must be a string');
    if (iss !== c.iss) return false;
  }
  const aud = payload['aud'];
  if (aud !== undefined ? !audienceValid(aud, c.aud) : c.aud !== '') return false;
  const nowSeconds = timeNs / 1e9;
  const exp = payload['exp'];
  if (exp !== undefined && compareSeconds(nowSeconds, numericClaim(exp, 'exp')) !== -1) return false;
  const nbf = payload['nbf'];
  if (nbf !== undefined && compareSeconds(nowSeconds, numericClaim(nbf, 'nbf')) === -1) return false;
  return true;
}

const UNVERIFIED = (): BuiltinResult => [false, {}, {}];

/** Verified tokens remembered per instance, so a token seen again skips decoding and the signature check. */
const VERIFIED_CACHE_SIZE = 1024;

/**
 * What a token is once its signature is checked, which depends only on the token and the key and alg
 * constraints: not verified, or its header and claims (nested `cty: JWT` tokens unwrapped). The time,
 * iss and aud checks still run on every call. `accepted` is the builtin's result object, returned as the
 * same object on every hit so that the engine can reuse its encoding.
 */
type Verification = { ok: false } | { ok: true; claims: BuiltinObject; accepted: BuiltinResult };

function verifyToken(jwt: BuiltinValue, c: Constraints, cache: JwtKeyCache): Verification {
  let current: BuiltinValue | undefined = jwt;
  for (;;) {
    const token = splitToken(current);
    const decodedHeader = decodeHeader(token);
    const h = parseTokenHeader(decodedHeader);
    if (!headerValid(h)) return { ok: false };
    if (c.alg !== '' && c.alg !== h.alg) return { ok: false };
    const signature = decodeBase64Url(token.signature);
    if (!signatureVerified(c, cache, h, `${token.header}.${token.payload}`, signature)) return { ok: false };
    const payload = decodeBase64Url(token.payload);
    if (h.cty.toLowerCase() === 'jwt') {
      current = payload.toString('utf8');
      continue;
    }
    const claims = jsonObject(payload);
    return { ok: true, claims, accepted: deepFreeze([true, decodedHeader, claims]) };
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function decodeVerifier(cache: JwtKeyCache, nowNs: () => bigint): BuiltinFn {
  const verified = new Map<string, Verification>();
  return (jwt, constraintsArg) => {
    const constraints = objectOperand(constraintsArg, 2);
    const c = parseConstraints(constraints, cache);
    const timeNs = c.time ?? Number(nowNs());
    // Malformed tokens throw and are not remembered; they are cheap to reject again.
    const key = typeof jwt === 'string' ? `${c.alg}\0${c.secret}\0${String(constraints.cert ?? '')}\0${jwt}` : undefined;
    let v = key === undefined ? undefined : verified.get(key);
    if (v === undefined) {
      v = verifyToken(jwt, c, cache);
      if (key !== undefined) {
        if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
        verified.set(key, v);
      }
    }
    if (!v.ok) return UNVERIFIED();
    return claimsAccepted(v.claims, c, timeNs) ? v.accepted : UNVERIFIED();
  };
}

// ---- table -----------------------------------------------------------------------------------

const SIZES = ['256', '384', '512'] as const;

export function jwtBuiltins(cache: JwtKeyCache, nowNs: () => bigint): Array<readonly [string, BuiltinFn]> {
  const entries: Array<readonly [string, BuiltinFn]> = [
    ['io.jwt.decode', (jwt) => jwtDecode(jwt)],
    ['io.jwt.decode_verify', decodeVerifier(cache, nowNs)],
    ['io.jwt.verify_eddsa', legacyVerifier(cache, (k, input, sig) => ed25519Matches(k.key, input, sig))],
  ];
  for (const size of SIZES) {
    const hash = `sha${size}`;
    entries.push(
      [`io.jwt.verify_hs${size}`, hsVerifier(cache, hash)],
      [`io.jwt.verify_rs${size}`, legacyVerifier(cache, (k, input, sig) => rsaMatches(k.key, hash, input, sig, undefined))],
      [`io.jwt.verify_ps${size}`, legacyVerifier(cache, (k, input, sig) => rsaMatches(k.key, hash, input, sig, constants.RSA_PSS_SALTLEN_AUTO))],
      [`io.jwt.verify_es${size}`, legacyVerifier(cache, (k, input, sig) => ecdsaMatches(k.key, hash, input, sig, false))],
    );
  }
  return entries;
}
