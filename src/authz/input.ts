// Request -> input document: the keys the OPA-Envoy plugin adds to the request (version,
// parsed_path, parsed_query, parsed_body, truncated_body, source_principal), parsed with Go's
// rules so policies see what they would see under the plugin. Before parsing, the agent applies
// Kong Mesh's authConfig.requestBody (maxSize, sendRawBody) as Envoy would have.
import { Buffer } from 'node:buffer';
import { unmarshalJson, unmarshalJsonBytes } from './gocompat/json.js';
import { parseMediaType } from './gocompat/mime.js';
import { readMultipartForm } from './gocompat/multipart.js';
import { parseInt64 } from './gocompat/strconv.js';
import { decodeUtf8, GoError } from './gocompat/text.js';
import { parseQuery, pathUnescape } from './gocompat/url.js';
import { RequestParseError } from './errors.js';
import type { ApiVersion, AuthConfig, DecodedRequest, HttpView } from './types.js';

export interface InputOptions {
  authConfig: AuthConfig;
  skipRequestBodyParse: boolean;
}

export { RequestParseError } from './errors.js';

// Shared and frozen: the document is only serialized, never edited after it is built.
const VERSION_INFO: Record<ApiVersion, Readonly<Record<string, string>>> = {
  v3: Object.freeze({ ext_authz: 'v3', encoding: 'protojson' }),
  v2: Object.freeze({ ext_authz: 'v2', encoding: 'encoding/json' }),
};

const PARTIAL_BODY_HEADER = 'x-envoy-auth-partial-body';
// v3 shows fields by their JSON names (protomap); v2 has no raw body field at all.
const RAW_BODY_KEY = 'rawBody';

interface ParsedBody {
  value: unknown;
  truncated: boolean;
}

const NOT_PARSED: ParsedBody = Object.freeze({ value: null, truncated: false });
const TRUNCATED: ParsedBody = Object.freeze({ value: null, truncated: true });

/** Adds the plugin's keys to `req.doc` and returns it; throws RequestParseError where the plugin fails. */
export function buildInput(req: DecodedRequest, version: ApiVersion, options: InputOptions): Record<string, unknown> {
  const { doc, http } = req;
  const rawBody = presentBody(http, version, options.authConfig);
  doc.version = VERSION_INFO[version];
  try {
    const query = http.path.indexOf('?');
    const rawPath = query < 0 ? http.path : http.path.slice(0, query);
    doc.parsed_path = trimLeadingSlashes(pathUnescape(rawPath)).split('/');
    doc.parsed_query = parseQuery(query < 0 ? '' : http.path.slice(query + 1));
    if (!options.skipRequestBodyParse) {
      const body = parseBody(http.headers, http.body, rawBody);
      doc.parsed_body = body.value;
      doc.truncated_body = body.truncated;
    }
  } catch (err) {
    if (err instanceof GoError) throw new RequestParseError(err.message);
    throw err;
  }
  if (req.sourcePrincipal !== '') doc.source_principal = req.sourcePrincipal;
  return doc;
}

function trimLeadingSlashes(s: string): string {
  let i = 0;
  while (s.charCodeAt(i) === 0x2f) i++;
  return i === 0 ? s : s.slice(i);
}

// --- authConfig.requestBody, and raw bytes as the plugin shows them -------------------------------

/**
 * Applies sendRawBody and maxSize to the http object and returns the raw bytes the body parser
 * reads (v3 only: the plugin ignores raw bytes on v2, which has no such field). Raw bytes appear in
 * the document as standard padded base64, as Go's JSON shows a []byte.
 */
function presentBody(http: HttpView, version: ApiVersion, auth: AuthConfig): Uint8Array | undefined {
  if (version === 'v2') {
    if (auth.maxSize > 0) limitText(http, auth.maxSize);
    return undefined;
  }
  let raw = http.rawBody;
  if (auth.sendRawBody && http.body !== '') {
    raw = Buffer.from(http.body, 'utf8');
    setBody(http, '');
  }
  if (auth.maxSize > 0) {
    if (raw !== undefined && raw.length > auth.maxSize) {
      raw = raw.subarray(0, auth.maxSize);
      markPartial(http);
    } else {
      limitText(http, auth.maxSize);
    }
  }
  if (raw !== undefined) {
    http.rawBody = raw;
    if (raw.length > 0) http.object[RAW_BODY_KEY] = base64(raw);
    else delete http.object[RAW_BODY_KEY];
  }
  return raw;
}

/**
 * Cuts a text body to maxSize bytes. It stops before a character that would be split: Envoy would
 * cut inside it, leaving invalid UTF-8 that the plugin's protobuf decoding rejects outright.
 */
function limitText(http: HttpView, maxSize: number): void {
  const body = http.body;
  // A UTF-16 unit never takes more than 3 UTF-8 bytes: short bodies need no byte count.
  if (body.length * 3 <= maxSize || Buffer.byteLength(body, 'utf8') <= maxSize) return;
  const bytes = Buffer.from(body, 'utf8');
  let cut = maxSize;
  while (cut > 0 && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
  setBody(http, bytes.toString('utf8', 0, cut));
  markPartial(http);
}

function setBody(http: HttpView, body: string): void {
  http.body = body;
  if (body === '') delete http.object.body;
  else http.object.body = body;
}

// What Envoy sets when it forwards only part of the body; the input shows it like any header.
function markPartial(http: HttpView): void {
  http.headers[PARTIAL_BODY_HEADER] = 'true';
  if (http.object.headers !== http.headers) http.object.headers = http.headers;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

// --- parsed_body / truncated_body ----------------------------------------------------------------

// Content types are matched by substring, case-sensitively, in this order, as the plugin does.
function parseBody(headers: Record<string, string>, body: string, raw: Uint8Array | undefined): ParsedBody {
  if (headers[PARTIAL_BODY_HEADER] === 'true') return TRUNCATED;
  const contentType = headers['content-type'];
  if (contentType === undefined) return NOT_PARSED;
  if (contentType.includes('application/json')) return parseJsonBody(headers, body, raw);
  // Decoding gRPC needs a descriptor set, which the agent has none of: the plugin then parses nothing.
  if (contentType.includes('application/grpc')) return NOT_PARSED;
  if (contentType.includes('application/x-www-form-urlencoded')) return parseFormBody(headers, body, raw);
  if (contentType.includes('multipart/form-data')) return parseMultipartBody(headers, contentType, body, raw);
  return NOT_PARSED;
}

function parseJsonBody(headers: Record<string, string>, body: string, raw: Uint8Array | undefined): ParsedBody {
  if (body !== '') {
    if (cutShort(headers, Buffer.byteLength(body, 'utf8'))) return TRUNCATED;
    return { value: unmarshalJson(body), truncated: false };
  }
  if (raw === undefined || raw.length === 0) return NOT_PARSED;
  if (cutShort(headers, raw.length)) return TRUNCATED;
  return { value: unmarshalJsonBytes(raw), truncated: false };
}

function parseFormBody(headers: Record<string, string>, body: string, raw: Uint8Array | undefined): ParsedBody {
  if (body !== '') {
    if (cutShort(headers, Buffer.byteLength(body, 'utf8'))) return TRUNCATED;
    return { value: parseQuery(body), truncated: false };
  }
  if (raw === undefined || raw.length === 0) return NOT_PARSED;
  if (cutShort(headers, raw.length)) return TRUNCATED;
  return { value: parseQuery(decodeUtf8(raw)), truncated: false };
}

function parseMultipartBody(
  headers: Record<string, string>,
  contentType: string,
  body: string,
  raw: Uint8Array | undefined,
): ParsedBody {
  const payload = body !== '' ? Buffer.from(body, 'utf8') : raw;
  if (payload === undefined || payload.length === 0) return NOT_PARSED;
  if (cutShort(headers, payload.length)) return TRUNCATED;
  const boundary = parseMediaType(contentType).params.get('boundary');
  if (boundary === undefined) return NOT_PARSED;
  return { value: readMultipartForm(payload, boundary), truncated: false };
}

/** content-length says more bytes were sent than arrived (-1 means unknown). Invalid values fail as in Go. */
function cutShort(headers: Record<string, string>, received: number): boolean {
  const contentLength = headers['content-length'];
  if (contentLength === undefined) return false;
  const declared = parseInt64(contentLength);
  return declared !== -1 && declared > received;
}
