// The token endpoints of the agent's REST listener, as Kuma's API server serves them: user token
// generation (what `kumactl generate user-token` calls) and the bootstrap admin token, readable from
// this machine only, in the GlobalSecret form `curl … | jq -r .data | base64 -d` expects.
import type { IncomingMessage } from 'node:http';
import { decodeJwt } from 'jose';
import type { Logger } from '../log.js';
import { parseGoDuration } from '../engine/builtins/gotime.js';
import { writeKuma, writeKumaError } from '../resources/http.js';
import type { AccessDecision, Authentication, FieldViolation, User } from '../resources/types.js';
import { BodyError, readBody, type Exchange, type Route } from '../server/http.js';
import { isDirectLocalRequest } from './identity.js';
import type { Action } from './model.js';
import type { UserTokens } from './tokens.js';

export interface TokenRouteDeps {
  tokens: UserTokens;
  authenticate(req: IncomingMessage): Promise<Authentication>;
  authorize(user: User, action: Action): AccessDecision;
  log: Logger;
}

/** A token request is a few names; anything near this size is not one. */
const BODY_LIMITS = { maxBytes: 1 << 20, maxGzipBytes: 1 << 20 };

export function tokenRoutes(deps: TokenRouteDeps): Route[] {
  return [
    { path: '/tokens/user', methods: { POST: { label: 'v1/tokens/user', handle: (x) => generateUserToken(deps, x) } } },
    { path: '/global-secrets/admin-user-token', methods: { GET: { label: 'v1/global-secrets/admin-user-token', handle: (x) => adminUserToken(deps, x) } } },
  ];
}

async function generateUserToken(deps: TokenRouteDeps, { req, res }: Exchange): Promise<void> {
  const authn = await deps.authenticate(req);
  if (!authn.ok) {
    writeKumaError(res, 401, 'Invalid authentication data', authn.message);
    return;
  }
  const decision = deps.authorize(authn.user, { access: 'GENERATE_USER_TOKEN' });
  if (!decision.allowed) {
    deps.log.debug('user token generation denied', { user: authn.user.name });
    writeKumaError(res, 403, 'Access Denied', decision.detail);
    return;
  }
  const request = await readTokenRequest(req);
  if ('violations' in request) {
    writeKumaError(res, 400, 'Invalid request', 'Resource is not valid', request.violations);
    return;
  }
  const token = await deps.tokens.issue(request);
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/plain');
  res.end(token);
}

type TokenRequest = { name: string; groups: string[]; validForSeconds: number } | { violations: FieldViolation[] };

async function readTokenRequest(req: IncomingMessage): Promise<TokenRequest> {
  let body: unknown;
  try {
    body = JSON.parse((await readBody(req, BODY_LIMITS)).toString('utf8'));
  } catch (err) {
    const reason = err instanceof BodyError ? err.message : 'is not a JSON object';
    return { violations: [{ field: 'body', message: reason }] };
  }
  if (!isJsonObject(body)) return { violations: [{ field: 'body', message: 'is not a JSON object' }] };
  const { name, validFor } = body;
  const groups = body.groups ?? [];
  const violations: FieldViolation[] = [];
  if (name !== undefined && typeof name !== 'string') violations.push({ field: 'name', message: 'must be a string' });
  else if (name === undefined || name === '') violations.push({ field: 'name', message: 'cannot be empty' });
  if (!isStringList(groups)) violations.push({ field: 'groups', message: 'must be a list of strings' });
  const validForSeconds = readValidFor(validFor, violations);
  if (typeof name !== 'string' || !isStringList(groups) || violations.length > 0) return { violations };
  return { name, groups, validForSeconds };
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((g) => typeof g === 'string');
}

/** Kuma's wording: absent is "cannot be empty", zero "cannot be empty or nil", bad text Go's parse error. */
function readValidFor(value: unknown, violations: FieldViolation[]): number {
  if (value === undefined || value === null || value === '') {
    violations.push({ field: 'validFor', message: 'cannot be empty' });
    return 0;
  }
  if (typeof value !== 'string') {
    violations.push({ field: 'validFor', message: 'must be a duration string such as "24h"' });
    return 0;
  }
  let nanos: bigint;
  try {
    nanos = parseGoDuration(value);
  } catch (err) {
    violations.push({ field: 'validFor', message: `is invalid: ${err instanceof Error ? err.message : String(err)}` });
    return 0;
  }
  if (nanos === 0n) violations.push({ field: 'validFor', message: 'cannot be empty or nil' });
  else if (nanos < 0n) violations.push({ field: 'validFor', message: 'must be positive' });
  return Number(nanos) / 1e9;
}

async function adminUserToken(deps: TokenRouteDeps, { req, res }: Exchange): Promise<void> {
  // The socket decides, never a header or a token: this secret is how an operator on the machine gets in.
  if (!isDirectLocalRequest(req)) {
    writeKumaError(res, 403, 'Access Denied', 'the admin user token can only be read from localhost');
    return;
  }
  const token = await deps.tokens.adminToken();
  const issued = goTime(decodeJwt(token).iat ?? 0);
  writeKuma(res, 200, {
    type: 'GlobalSecret',
    name: 'admin-user-token',
    creationTime: issued,
    modificationTime: issued,
    data: Buffer.from(token, 'utf8').toString('base64'),
  });
}

/** Go's time.Time in JSON (RFC 3339) for whole seconds, as the token's `iat` gives them. */
function goTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}
