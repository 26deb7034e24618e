// User tokens as Kuma issues them: RS256 JWTs carrying `Name` and `Groups`, a `jti` for revocation
// and the signing key's serial number as `kid`, signed by a key the agent generates on its first start
// and keeps in its data directory. The admin token is issued once and kept beside the key.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { createFileExclusive, writeFileAtomic } from '../files.js';
import type { Logger } from '../log.js';
import type { Resource, User } from '../resources/types.js';

/** A token that does not identify anyone; the message says why (for the 401 and the log). */
export class TokenError extends Error {
  override readonly name = 'TokenError';
}

/** Kuma adds this group to every user who presented a valid token. */
export const AUTHENTICATED_GROUP = 'mesh-system:authenticated';
/** Who the bootstrap admin token is for (the identity localhost gets, as Kong Mesh documents it). */
export const ADMIN_USER: Readonly<User> = Object.freeze({ name: 'admin', groups: ['mesh-system:admin'] });

const SIGNING_KEY_FILE = 'user-token-signing-key.pem';
const ADMIN_TOKEN_FILE = 'admin-user-token';
const ALGORITHM = 'RS256';
/** Kuma's serial number of the first signing key; the agent has only that one. */
const KEY_ID = '1';
/** Kuma backdates `nbf` by five minutes to absorb clock skew between control planes. */
const NOT_BEFORE_SKEW_SECONDS = 5 * 60;
/** Kuma's admin token lives ten years. */
const ADMIN_TOKEN_SECONDS = 10 * 365 * 24 * 3600;
const OWNER_ONLY = 0o600;

export interface UserTokensOptions {
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
  log?: Logger;
}

export class UserTokens {
  private admin: string | undefined;

  private constructor(
    private readonly privateKey: KeyObject,
    private readonly publicKey: KeyObject,
    private readonly adminTokenPath: string,
    private readonly now: () => number,
    private readonly log: Logger | undefined,
  ) {}

  /** Loads the signing key from `dataDir`, generating it on first start, and bootstraps the admin token. */
  static async open(dataDir: string, opts: UserTokensOptions = {}): Promise<UserTokens> {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const privateKey = await loadOrCreateKey(join(dataDir, SIGNING_KEY_FILE), opts.log);
    const tokens = new UserTokens(privateKey, createPublicKey(privateKey), join(dataDir, ADMIN_TOKEN_FILE), opts.now ?? Date.now, opts.log);
    await tokens.adminToken();
    return tokens;
  }

  /** A signed token for `name` in `groups`, valid from now for `validForSeconds`. */
  async issue(claims: { name: string; groups: string[]; validForSeconds: number }): Promise<string> {
    const nowSeconds = Math.floor(this.now() / 1000);
    return new SignJWT({ Name: claims.name, Groups: claims.groups })
      .setProtectedHeader({ alg: ALGORITHM, kid: KEY_ID, typ: 'JWT' })
      .setExpirationTime(nowSeconds + Math.floor(claims.validForSeconds))
      .setNotBefore(nowSeconds - NOT_BEFORE_SKEW_SECONDS)
      .setIssuedAt(nowSeconds)
      .setJti(randomUUID())
      .sign(this.privateKey);
  }

  /** The user a token names, with `mesh-system:authenticated` added; throws TokenError when it names no one. */
  async verify(token: string, revoked?: (jti: string) => boolean): Promise<User> {
    checkKeyId(token);
    const payload = await this.verifySignature(token);
    if (typeof payload.Name !== 'string' || payload.Name === '') throw new TokenError('token has no user name');
    const groups = payload.Groups ?? [];
    if (!Array.isArray(groups) || !groups.every((g): g is string => typeof g === 'string')) throw new TokenError('token groups are not a list of names');
    if (typeof payload.jti !== 'string' || payload.jti === '') throw new TokenError('token has no id');
    if (revoked?.(payload.jti)) throw new TokenError('token is revoked');
    return { name: payload.Name, groups: [...groups, AUTHENTICATED_GROUP] };
  }

  /** The bootstrap admin token: the one kept in the data directory, re-issued when it no longer verifies. */
  async adminToken(): Promise<string> {
    this.admin ??= await readAdminToken(this.adminTokenPath);
    if (this.admin !== undefined && (await this.verifies(this.admin))) return this.admin;
    if (this.admin !== undefined) this.log?.warn('admin user token is invalid or expired, issuing a new one', { path: this.adminTokenPath });
    const token = await this.issue({ name: ADMIN_USER.name, groups: [...ADMIN_USER.groups], validForSeconds: ADMIN_TOKEN_SECONDS });
    await writeFileAtomic(this.adminTokenPath, token, { mode: OWNER_ONLY });
    this.admin = token;
    this.log?.info('admin user token issued', { path: this.adminTokenPath });
    return token;
  }

  private async verifies(token: string): Promise<boolean> {
    try {
      await this.verify(token);
      return true;
    } catch (err) {
      if (err instanceof TokenError) return false;
      throw err;
    }
  }

  private async verifySignature(token: string): Promise<Record<string, unknown>> {
    try {
      const { payload } = await jwtVerify(token, this.publicKey, {
        algorithms: [ALGORITHM],
        currentDate: new Date(this.now()),
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (err) {
      throw new TokenError(verifyFailure(err));
    }
  }
}

/** Kuma picks the verification key by `kid`; a token naming another key was signed by someone else. */
function checkKeyId(token: string): void {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new TokenError('token is malformed');
  }
  if (header.alg !== ALGORITHM) throw new TokenError(`token algorithm ${JSON.stringify(header.alg ?? '')} is not allowed, only ${ALGORITHM}`);
  if (header.kid !== KEY_ID) throw new TokenError(`token is signed by an unknown key (kid ${JSON.stringify(header.kid ?? '')})`);
}

function verifyFailure(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token is expired';
  if (err instanceof errors.JWTClaimValidationFailed) return err.claim === 'nbf' ? 'token is not valid yet' : `token claim ${err.claim} is invalid`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof errors.JOSEAlgNotAllowed) return `token algorithm is not allowed, only ${ALGORITHM}`;
  if (err instanceof errors.JOSEError) return 'token is malformed';
  throw err;
}

// --- Files ---------------------------------------------------------------------------------------

async function loadOrCreateKey(path: string, log: Logger | undefined): Promise<KeyObject> {
  const existing = await readKeyFile(path);
  if (existing !== undefined) return existing;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // If another process got there first, its key wins and is read back.
  if (!(await createFileExclusive(path, pem, OWNER_ONLY))) return (await readKeyFile(path))!;
  log?.info('user token signing key generated', { path });
  return privateKey;
}

async function readKeyFile(path: string): Promise<KeyObject | undefined> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (info === undefined) return undefined;
  if ((info.mode & 0o077) !== 0) {
    throw new Error(`user token signing key ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); make it owner-only (chmod 600)`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(await readFile(path));
  } catch (err) {
    throw new Error(`user token signing key ${path} is not a valid PEM private key: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`user token signing key ${path} is a ${key.asymmetricKeyType ?? 'unknown'} key, not RSA`);
  return key;
}

async function readAdminToken(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// --- Revocation ---------------------------------------------------------------------------------

/** Kuma's `user-token-revocations` GlobalSecret: base64 `data` holding comma-separated token ids. */
export function revokedList(secret: Resource | undefined): Set<string> {
  if (secret === undefined || typeof secret.data !== 'string') return new Set();
  const ids = Buffer.from(secret.data, 'base64').toString('utf8').split(',').map((id) => id.trim());
  return new Set(ids.filter((id) => id !== ''));
}
