// The top-level `keys` section: the keys that verify signed bundles, as OPA 1.19's keys.ParseKeysConfig
// reads it. A key's material is turned into a node KeyObject on first use and kept, so that every bundle
// verified with it reuses the same parsed key; as in OPA, material that does not parse fails the
// verification that needs it, not the configuration.
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { ConfigValueError, describe, isMapping, SectionReader } from '../services/config-values.js';

export class KeysConfigError extends ConfigValueError {
  override readonly name = 'KeysConfigError';
}

export type SigningAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'HS256' | 'HS384' | 'HS512';

const ALGORITHMS: ReadonlySet<string> = new Set<SigningAlgorithm>(['ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
const DEFAULT_ALGORITHM: SigningAlgorithm = 'RS256';

// OPA reads the first PEM block only, and accepts these types; node parses each of them (a private key
// yields its public half).
const FIRST_PEM_BLOCK = /-----BEGIN ([^-\n]+)-----/;
const PEM_TYPES: ReadonlySet<string> = new Set(['RSA PUBLIC KEY', 'PUBLIC KEY', 'RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'CERTIFICATE']);

export interface BundleKey {
  id: string;
  /** PEM text (RSA/ECDSA) or the shared secret (HMAC), as configured. */
  key: string;
  /** Only used to sign; kept because OPA compares whole key entries when discovery reconfigures. */
  privateKey: string;
  algorithm: SigningAlgorithm;
  scope: string;
  /** The parsed key, computed once; throws OPA's message when the material is no usable key. */
  keyObject(): KeyObject;
}

/** Parses `keys` (absent: none). Throws KeysConfigError with OPA's texts. */
export function parseKeys(doc: unknown): Map<string, BundleKey> {
  const out = new Map<string, BundleKey>();
  if (doc === undefined || doc === null) return out;
  if (!isMapping(doc)) throw new KeysConfigError(`keys must be a mapping from key ID to key, got ${describe(doc)}`);
  for (const [id, entry] of Object.entries(doc)) out.set(id, parseKey(id, entry));
  return out;
}

function parseKey(id: string, entry: unknown): BundleKey {
  let r: SectionReader;
  try {
    r = SectionReader.of(`keys.${id}`, entry);
  } catch (err) {
    throw new KeysConfigError((err as Error).message);
  }
  const read = (name: string): string => {
    try {
      return r.string(name) ?? '';
    } catch (err) {
      throw new KeysConfigError((err as Error).message);
    }
  };
  const key = read('key');
  const privateKey = read('private_key');
  const algorithm = read('algorithm') || DEFAULT_ALGORITHM;
  const scope = read('scope');
  if (key === '' && privateKey === '') throw new KeysConfigError(`invalid keys configuration: no keys provided for key ID ${id}`);
  if (!ALGORITHMS.has(algorithm)) throw new KeysConfigError(`unsupported algorithm '${algorithm}'`);
  return { id, key, privateKey, algorithm: algorithm as SigningAlgorithm, scope, keyObject: once(() => importKey(key, algorithm as SigningAlgorithm)) };
}

function importKey(material: string, algorithm: SigningAlgorithm): KeyObject {
  // OPA uses the text's bytes as the HMAC secret, whatever it looks like.
  if (algorithm.startsWith('HS')) return createSecretKey(Buffer.from(material, 'utf8'));
  if (!PEM_TYPES.has(FIRST_PEM_BLOCK.exec(material)?.[1] ?? '')) throw new Error('failed to parse PEM block containing the key');
  try {
    return createPublicKey(material);
  } catch (err) {
    throw new Error(`failed to parse the key: ${(err as Error).message}`);
  }
}

function once<T>(make: () => T): () => T {
  let done = false;
  let value: T;
  let error: unknown;
  return () => {
    if (!done) {
      try {
        value = make();
      } catch (err) {
        error = err;
      }
      done = true;
    }
    if (error !== undefined) throw error;
    return value;
  };
}

/** Two key entries are the same key (OPA's keys.Config.Equal). */
export function sameKey(a: BundleKey, b: BundleKey): boolean {
  return a.key === b.key && a.privateKey === b.privateKey && a.algorithm === b.algorithm && a.scope === b.scope;
}
