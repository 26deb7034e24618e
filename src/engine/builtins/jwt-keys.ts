// Key material for JWT verification: a PEM certificate, a PEM public key, or a JWK / JWK Set, read
// with the acceptance rules of Go OPA (encoding/pem, crypto/x509 and lestrrat-go/jwx).
import { createPublicKey, createSecretKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { BuiltinError, isObject, type BuiltinValue } from './values.js';

export interface VerificationKey {
  /** The JWK's "alg", '' when absent (always so for PEM input). */
  readonly alg: string;
  /** The JWK's "kid", '' when absent. */
  readonly kid: string;
  readonly key: KeyObject;
  /** Built from a private JWK: Go's jwsbb verifies with it, the older verify_* builtins refuse it. */
  readonly fromPrivate: boolean;
}

/** Algorithms Go OPA verifies tokens with; JWKs naming another (known) algorithm are skipped. */
export const TOKEN_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'EdDSA',
]);

// Every "alg" jwx accepts in a JWK; any other value makes the whole key (set) unparsable.
const JWX_KEY_ALGORITHMS: ReadonlySet<string> = new Set([
  ...TOKEN_ALGORITHMS,
  'ES256K', 'Ed25519', 'none',
  'RSA1_5', 'RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512',
  'A128KW', 'A192KW', 'A256KW', 'dir',
  'ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW',
  'A128GCMKW', 'A192GCMKW', 'A256GCMKW',
  'PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW',
]);

interface PemBlock {
  type: string;
  der: Buffer;
  rest: string;
}

const PEM_BEGIN = /(?:^|\n)-----BEGIN ([^\n]*?)-----[ \t]*\r?\n/g;
const BASE64_STD = /^[A-Za-z0-9+/]*={0,2}$/;

/** Go's pem.Decode: the first well-formed block (text before it is skipped) and what follows its END line. */
function pemDecode(text: string): PemBlock | undefined {
  PEM_BEGIN.lastIndex = 0;
  for (let m = PEM_BEGIN.exec(text); m !== null; m = PEM_BEGIN.exec(text)) {
    const type = m[1] ?? '';
    const bodyStart = m.index + m[0].length;
    const endMarker = `-----END ${type}-----`;
    const endAt = text.indexOf(endMarker, bodyStart);
    if (endAt < 0) continue;
    const body = text.slice(bodyStart, endAt).replace(/[ \t\r\n]/g, '');
    if (body.length % 4 !== 0 || !BASE64_STD.test(body)) continue;
    let rest = text.slice(endAt + endMarker.length);
    // The END line's own trailing blanks and line ending belong to the block.
    rest = rest.replace(/^[ \t]*(\r?\n)?/, '');
    return { type, der: Buffer.from(body, 'base64'), rest };
  }
  return undefined;
}

function importSpki(der: Buffer): KeyObject {
  try {
    return checkGoKeyType(createPublicKey({ key: der, format: 'der', type: 'spki' }));
  } catch (e) {
    throw e instanceof BuiltinError ? e : new BuiltinError(`failed to parse a PEM public key: ${(e as Error).message}`);
  }
}

function importCertificate(der: Buffer): KeyObject {
  try {
    return checkGoKeyType(new X509Certificate(der).publicKey);
  } catch (e) {
    throw e instanceof BuiltinError ? e : new BuiltinError(`failed to parse a PEM certificate: ${(e as Error).message}`);
  }
}

// crypto/x509 reads RSA, ECDSA (NIST curves) and Ed25519 keys; OpenSSL reads more (RSA-PSS, Ed448, brainpool…).
const GO_EC_CURVES: ReadonlySet<string> = new Set(['prime256v1', 'secp384r1', 'secp521r1', 'secp224r1']);

function checkGoKeyType(key: KeyObject): KeyObject {
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'ed25519' || type === 'x25519') return key;
  if (type === 'ec' && GO_EC_CURVES.has(key.asymmetricKeyDetails?.namedCurve ?? '')) return key;
  throw new BuiltinError(`unsupported public key type ${type ?? 'unknown'}`);
}

function stringField(jwk: { [k: string]: BuiltinValue }, name: string): string {
  const v = jwk[name];
  if (v === undefined) return '';
  if (typeof v !== 'string') throw new BuiltinError(`failed to parse a JWK key (set): ${name} must be a string`);
  return v;
}

function importJwk(jwk: BuiltinValue): VerificationKey {
  if (!isObject(jwk)) throw new BuiltinError('failed to parse a JWK key (set): key must be an object');
  const kty = stringField(jwk, 'kty');
  const alg = stringField(jwk, 'alg');
  const kid = stringField(jwk, 'kid');
  if (alg !== '' && !JWX_KEY_ALGORITHMS.has(alg)) throw new BuiltinError(`failed to parse a JWK key (set): invalid alg ${alg}`);
  try {
    if (kty === 'oct') {
      const k = stringField(jwk, 'k');
      return { alg, kid, key: createSecretKey(Buffer.from(k, 'base64url')), fromPrivate: false };
    }
    if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') throw new BuiltinError(`failed to parse a JWK key (set): invalid key type ${kty}`);
    const key = checkGoKeyType(createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }));
    return { alg, kid, key, fromPrivate: jwk['d'] !== undefined };
  } catch (e) {
    throw e instanceof BuiltinError ? e : new BuiltinError(`failed to parse a JWK key (set): ${(e as Error).message}`);
  }
}

function parseJwkOrSet(text: string): VerificationKey[] {
  let doc: BuiltinValue;
  try {
    doc = JSON.parse(text) as BuiltinValue;
  } catch (e) {
    throw new BuiltinError(`failed to parse a JWK key (set): ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new BuiltinError('failed to parse a JWK key (set): not an object');
  const set = doc['keys'];
  const jwks = set === undefined ? [doc] : set;
  if (!Array.isArray(jwks)) throw new BuiltinError('failed to parse a JWK key (set): keys must be an array');
  return jwks.map(importJwk).filter((k) => k.alg === '' || TOKEN_ALGORITHMS.has(k.alg));
}

/** Go OPA's getKeysFromCertOrJWK. Throws BuiltinError where Go OPA's builtin fails. */
export function parseVerificationKeys(certificate: string): VerificationKey[] {
  const block = pemDecode(certificate);
  if (block === undefined) return parseJwkOrSet(certificate);
  if (block.rest.length > 0) throw new BuiltinError('extra data after a PEM certificate block');
  const noJwkFields = { alg: '', kid: '', fromPrivate: false };
  if (block.type === 'CERTIFICATE') return [{ ...noJwkFields, key: importCertificate(block.der) }];
  if (block.type === 'PUBLIC KEY') return [{ ...noJwkFields, key: importSpki(block.der) }];
  throw new BuiltinError('failed to extract a Key from the PEM certificate');
}
