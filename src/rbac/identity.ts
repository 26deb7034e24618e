// Who is calling the agent's REST API, as Kuma's API server decides it: a direct call from this machine
// is the admin (when localhost-is-admin is on, before any token is looked at, as Kuma's filter order
// has it), a Bearer user token names its user, and anyone else is anonymous.
import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv6 } from 'node:net';
import type { Authentication, User } from '../resources/types.js';
import { ADMIN_USER, AUTHENTICATED_GROUP, TokenError, type UserTokens } from './tokens.js';

export interface AuthenticateOptions {
  localhostIsAdmin: boolean;
  tokens: UserTokens;
  revoked?: (jti: string) => boolean;
}

/** Kuma's identity of a caller without credentials. */
export const ANONYMOUS: Readonly<User> = Object.freeze({ name: 'mesh-system:anonymous', groups: ['mesh-system:unauthenticated'] });

const BEARER = 'Bearer ';

export async function authenticate(req: IncomingMessage, opts: AuthenticateOptions): Promise<Authentication> {
  if (opts.localhostIsAdmin && isDirectLocalRequest(req)) {
    return { ok: true, user: { name: ADMIN_USER.name, groups: [...ADMIN_USER.groups, AUTHENTICATED_GROUP] } };
  }
  const header = req.headers.authorization;
  // Kuma reads only Bearer credentials; any other scheme leaves the caller anonymous.
  if (header === undefined || !header.startsWith(BEARER)) return { ok: true, user: { name: ANONYMOUS.name, groups: [...ANONYMOUS.groups] } };
  try {
    return { ok: true, user: await opts.tokens.verify(header.slice(BEARER.length), opts.revoked) };
  } catch (err) {
    if (err instanceof TokenError) return { ok: false, status: 401, message: err.message };
    throw err;
  }
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether an IP address (as a socket reports it) is this machine: 127.0.0.0/8, ::1 or ::ffff:127.x. */
export function isLoopbackAddress(address: string): boolean {
  const ip = address.replace(/^\[(.*)\]$/, '$1');
  try {
    // IPv4-mapped addresses are checked against the IPv4 subnet.
    return LOOPBACK.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
  } catch {
    return false;
  }
}

/**
 * A request from this machine made directly, as Kuma judges it: the socket's peer is loopback, no
 * proxy relayed it (a local proxy would otherwise turn remote callers into the admin), the Host is a
 * loopback name, and a browser did not send it on behalf of another site.
 */
export function isDirectLocalRequest(req: IncomingMessage): boolean {
  const peer = req.socket.remoteAddress;
  if (peer === undefined || !isLoopbackAddress(peer)) return false;
  const h = req.headers;
  if (h.forwarded !== undefined || h['x-forwarded-for'] !== undefined || h['x-real-ip'] !== undefined) return false;
  const host = h.host ?? '';
  if (!isLoopbackName(hostWithoutPort(host))) return false;
  if (h['sec-fetch-site'] === 'cross-site') return false;
  return h.origin === undefined || h.origin === '' || isSameLoopbackOrigin(h.origin, host);
}

function isLoopbackName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || isLoopbackAddress(name);
}

/** Go's SplitHostPort, falling back to the whole text as Kuma does when there is no port. */
function hostWithoutPort(hostport: string): string {
  const m = /^\[([^\]]*)\]:\d*$/.exec(hostport) ?? /^([^:]*):\d*$/.exec(hostport);
  return m ? m[1]! : hostport;
}

function isSameLoopbackOrigin(origin: string, requestHost: string): boolean {
  const m = /^(https?):\/\/([^/?#]+)(?:[/?#]|$)/i.exec(origin);
  if (!m) return false;
  const originHost = m[2]!;
  if (originHost.includes('@') || !isLoopbackName(hostWithoutPort(originHost).replace(/^\[(.*)\]$/, '$1'))) return false;
  return originHost.toLowerCase() === requestHost.toLowerCase();
}
