// OPA's `services` section: the remote HTTP endpoints that bundles, decision logs and status talk to.
// Like OPA it is either a list of entries with a `name`, or a mapping from name to entry (the form
// Helm-style --set overrides can address).
import { ConfigValueError, SectionReader, describe, isMapping } from './config-values.js';

export class ServiceConfigError extends ConfigValueError {
  override readonly name = 'ServiceConfigError';
}

export interface BearerCredentials {
  kind: 'bearer';
  /** The token itself, or */
  token?: string;
  /** a file holding it, read again for every request (rotated tokens are picked up). */
  tokenPath?: string;
  /** Authorization scheme; OPA's default is Bearer. */
  scheme: string;
}

export interface ClientTlsCredentials {
  kind: 'client_tls';
  /** PEM files, read again for every request so that rotated certificates are used on new connections. */
  cert: string;
  privateKey: string;
  privateKeyPassphrase?: string;
  /** Deprecated in OPA in favour of `tls.ca_cert`, still honoured when that is absent. */
  caCert?: string;
  systemCaRequired: boolean;
}

export type ServiceCredentials = BearerCredentials | ClientTlsCredentials;

export interface ServiceConfig {
  name: string;
  /** Base URL without trailing slashes (OPA trims them). */
  url: string;
  /** Sent with every request; a request's own headers are added after these. */
  headers: Record<string, string>;
  /** Time allowed until response headers arrive; 0 waits forever. OPA's default is 10. */
  responseHeaderTimeoutSeconds: number;
  /** Skip verification of the server's certificate (https only). */
  allowInsecureTls: boolean;
  tls?: { caCert: string; systemCaRequired: boolean };
  credentials?: ServiceCredentials;
  /** Keys OPA would ignore (unknown to it), as dotted paths: worth a warning. */
  ignoredKeys: string[];
}

const DEFAULT_RESPONSE_HEADER_TIMEOUT_SECONDS = 10;
const SUPPORTED_CREDENTIALS = ['bearer', 'client_tls'];
// OPA's other credential plugins; named so that a config using one fails clearly instead of sending
// unauthenticated requests.
const UNSUPPORTED_CREDENTIALS = ['oauth2', 's3_signing', 'gcp_metadata', 'azure_managed_identity', 'plugin'];

/** Parses the `services` section (list or mapping). Throws ServiceConfigError naming the bad key. */
export function parseServices(doc: unknown): ServiceConfig[] {
  try {
    return parseServiceEntries(doc);
  } catch (err) {
    if (err instanceof ConfigValueError && !(err instanceof ServiceConfigError)) throw new ServiceConfigError(err.message);
    throw err;
  }
}

function parseServiceEntries(doc: unknown): ServiceConfig[] {
  if (doc === undefined || doc === null) return [];
  const entries: Array<[string, SectionReader]> = [];
  if (Array.isArray(doc)) {
    doc.forEach((entry, i) => {
      const reader = SectionReader.of(`services[${i}]`, entry);
      const name = reader.string('name');
      if (!name) throw new ServiceConfigError(`services[${i}].name must be set: a service in list form needs a name`);
      entries.push([name, reader]);
    });
  } else if (isMapping(doc)) {
    for (const [name, entry] of Object.entries(doc)) {
      const reader = SectionReader.of(`services.${name}`, entry);
      reader.raw('name'); // the mapping key names the service, as in OPA
      entries.push([name, reader]);
    }
  } else {
    throw new ServiceConfigError(`services must be a list of services or a mapping from name to service, got ${describe(doc)}`);
  }
  const seen = new Set<string>();
  return entries.map(([name, reader]) => {
    if (seen.has(name)) throw new ServiceConfigError(`services: the name "${name}" is used by more than one service`);
    seen.add(name);
    return parseService(name, reader);
  });
}

function parseService(name: string, r: SectionReader): ServiceConfig {
  const url = parseUrl(r);
  const type = r.string('type');
  if (type !== undefined && type !== '') throw new ServiceConfigError(`${r.key('type')} "${type}" is not supported by kmesh-opa (only plain HTTP services)`);
  const timeout = r.integer('response_header_timeout_seconds') ?? DEFAULT_RESPONSE_HEADER_TIMEOUT_SECONDS;
  if (timeout < 0) throw new ServiceConfigError(`${r.key('response_header_timeout_seconds')} must be 0 or more, got ${timeout}`);
  const tlsReader = r.child('tls');
  const tls = parseServerTls(tlsReader);
  const credentials = parseCredentials(r.child('credentials'));
  return {
    name,
    url,
    headers: r.stringMap('headers'),
    responseHeaderTimeoutSeconds: timeout,
    allowInsecureTls: r.boolean('allow_insecure_tls') ?? false,
    ...(tls ? { tls } : {}),
    ...(credentials ? { credentials } : {}),
    ignoredKeys: [...r.unread(), ...tlsReader.unread()],
  };
}

function parseUrl(r: SectionReader): string {
  const url = r.string('url');
  if (!url) throw new ServiceConfigError(`${r.key('url')} must be set to the service's http:// or https:// base URL`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ServiceConfigError(`${r.key('url')} is not a valid URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ServiceConfigError(`${r.key('url')} must be an http:// or https:// URL, got ${JSON.stringify(url)}`);
  }
  return url.replace(/\/+$/, '');
}

function parseServerTls(r: SectionReader): ServiceConfig['tls'] {
  const caCert = r.string('ca_cert');
  const systemCaRequired = r.boolean('system_ca_required') ?? false;
  return caCert ? { caCert, systemCaRequired } : undefined;
}

function parseCredentials(r: SectionReader): ServiceCredentials | undefined {
  const present = r.keys();
  for (const k of present) {
    if (UNSUPPORTED_CREDENTIALS.includes(k)) {
      throw new ServiceConfigError(`${r.key(k)} is not supported by kmesh-opa (supported credentials: ${SUPPORTED_CREDENTIALS.join(', ')})`);
    }
  }
  const methods = present.filter((k) => SUPPORTED_CREDENTIALS.includes(k));
  if (methods.length > 1) throw new ServiceConfigError(`${r.path}: a maximum one credential method must be specified (found ${methods.join(', ')})`);
  if (r.has('bearer')) return parseBearer(r.child('bearer'));
  if (r.has('client_tls')) return parseClientTls(r.child('client_tls'));
  return undefined;
}

function parseBearer(r: SectionReader): BearerCredentials {
  const token = r.string('token');
  const tokenPath = r.string('token_path');
  if (token && tokenPath) throw new ServiceConfigError(`${r.path}: specify a value for either the "token" or "token_path" field, not both`);
  return {
    kind: 'bearer',
    ...(token ? { token } : {}),
    ...(tokenPath ? { tokenPath } : {}),
    scheme: r.string('scheme') || 'Bearer',
  };
}

function parseClientTls(r: SectionReader): ClientTlsCredentials {
  const cert = r.string('cert');
  const privateKey = r.string('private_key');
  if (!cert) throw new ServiceConfigError(`${r.key('cert')} must be set: client certificate is needed when client TLS is enabled`);
  if (!privateKey) throw new ServiceConfigError(`${r.key('private_key')} must be set: private key is needed when client TLS is enabled`);
  r.integer('cert_reread_interval_seconds'); // the files are compared on every request, so any interval is met
  const passphrase = r.string('private_key_passphrase');
  const caCert = r.string('ca_cert');
  return {
    kind: 'client_tls',
    cert,
    privateKey,
    ...(passphrase ? { privateKeyPassphrase: passphrase } : {}),
    ...(caCert ? { caCert } : {}),
    systemCaRequired: r.boolean('system_ca_required') ?? false,
  };
}
