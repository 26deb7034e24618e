// Decision -> CheckResponse, as the OPA-Envoy plugin builds it (envoyauth/response.go and its
// check()): a boolean, or an object with `allowed` and the optional keys below. A decision the
// plugin cannot use fails with the plugin's own message for it.
//
// Order: Go reads header and query objects in random (map) order; here they come out in the
// object's key order as the evaluator produced it, so one decision always gives one answer.
// `append` is never set on a header option: the plugin leaves it unset (Envoy's default applies).
import { goTypeName } from './gocompat/text.js';
import { parseInt64 } from './gocompat/strconv.js';
import { GoError } from './gocompat/text.js';
import type { CheckResponse, DeniedHttpResponse, HeaderValueOption, JsonObject, OkHttpResponse, QueryParameter } from './types.js';

/** The decision cannot be turned into an answer; the message is the plugin's (envoyauth_result_error). */
export class DecisionError extends Error {}

const OK = 0;
const PERMISSION_DENIED = 7;
const FORBIDDEN = 403;
const BAD_REQUEST = 400;

// Codes both Go's net/http knows and Envoy's envoy.type.v3.StatusCode lists; the plugin checks both.
const HTTP_STATUS_CODES: ReadonlySet<number> = new Set([
  100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403,
  404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431, 500,
  501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

type Decision = Record<string, unknown>;

export function decisionToResponse(decision: unknown, decisionId: string, options: { dryRun: boolean }): CheckResponse {
  const response: CheckResponse = isObject(decision)
    ? objectResponse(decision)
    : { status: { code: booleanDecision(decision) ? OK : PERMISSION_DENIED } };
  // Dry run answers OK whatever the policy said; what it said still goes to the decision log.
  if (options.dryRun && response.status.code !== OK) {
    return { status: { code: OK }, okResponse: {}, dynamicMetadata: withDecisionId(response.dynamicMetadata, decisionId) };
  }
  response.dynamicMetadata = withDecisionId(response.dynamicMetadata, decisionId);
  return response;
}

/** The plugin's answer to a request it cannot parse: denied with 400, the error in status and body. */
export function requestParseErrorResponse(message: string): CheckResponse {
  const text = `request_parse_error: ${message}`;
  return { status: { code: PERMISSION_DENIED, message: text }, deniedResponse: { status: BAD_REQUEST, body: text } };
}

function withDecisionId(metadata: JsonObject | undefined, decisionId: string): JsonObject {
  return { ...metadata, decision_id: decisionId };
}

function booleanDecision(decision: unknown): boolean {
  if (typeof decision === 'boolean') return decision;
  throw new DecisionError(`failed to get response status: illegal value for policy evaluation result: ${goTypeName(decision)}`);
}

// The plugin reads the keys in this order, so the first bad one is the one reported.
function objectResponse(decision: Decision): CheckResponse {
  const allowed = allowedOf(decision);
  const headers = headerOptions(decision, 'headers', 'failed to get response headers');
  const dynamicMetadata = metadataOf(decision);
  const response: CheckResponse = { status: { code: allowed ? OK : PERMISSION_DENIED } };
  if (dynamicMetadata) response.dynamicMetadata = dynamicMetadata;
  if (allowed) response.okResponse = okResponse(decision, headers);
  else response.deniedResponse = deniedResponse(decision, headers);
  return response;
}

function okResponse(decision: Decision, headers: HeaderValueOption[]): OkHttpResponse {
  const headersToRemove = stringList(decision, 'request_headers_to_remove', 'failed to get request headers to remove');
  const responseHeadersToAdd = headerOptions(decision, 'response_headers_to_add', 'failed to get response headers to send to client');
  const queryParametersToRemove = stringList(decision, 'query_parameters_to_remove', 'failed to get request query parameters to remove');
  const queryParametersToSet = queryParameters(decision);
  const ok: OkHttpResponse = {};
  if (headers.length > 0) ok.headers = headers;
  if (headersToRemove.length > 0) ok.headersToRemove = headersToRemove;
  if (responseHeadersToAdd.length > 0) ok.responseHeadersToAdd = responseHeadersToAdd;
  if (queryParametersToSet.length > 0) ok.queryParametersToSet = queryParametersToSet;
  if (queryParametersToRemove.length > 0) ok.queryParametersToRemove = queryParametersToRemove;
  return ok;
}

function deniedResponse(decision: Decision, headers: HeaderValueOption[]): DeniedHttpResponse {
  const body = bodyOf(decision);
  const denied: DeniedHttpResponse = { status: httpStatusOf(decision) };
  if (headers.length > 0) denied.headers = headers;
  if (body !== '') denied.body = body;
  return denied;
}

function allowedOf(decision: Decision): boolean {
  const allowed = decision.allowed;
  if (allowed === undefined) {
    throw new DecisionError('failed to get response status: unable to determine evaluation result due to missing "allowed" key');
  }
  if (typeof allowed !== 'boolean') {
    throw new DecisionError(
      `failed to get response status: type assertion error, expected allowed to be of type 'boolean' but got '${goTypeName(allowed)}'`,
    );
  }
  return allowed;
}

/** `headers` / `response_headers_to_add`: an object, or a list of objects, of string or string-list values. */
function headerOptions(decision: Decision, key: string, context: string): HeaderValueOption[] {
  const value = decision[key];
  const options: HeaderValueOption[] = [];
  if (value === undefined) return options;
  if (isObject(value)) {
    addHeaders(value, options, context);
  } else if (Array.isArray(value)) {
    for (const item of value) {
      if (!isObject(item)) throw notAHeaderObject(item, context);
      addHeaders(item, options, context);
    }
  } else {
    throw notAHeaderObject(value, context);
  }
  return options;
}

function notAHeaderObject(value: unknown, context: string): DecisionError {
  return new DecisionError(`${context}: type assertion error, expected headers to be of type 'object' but got '${goTypeName(value)}'`);
}

function addHeaders(headers: Decision, options: HeaderValueOption[], context: string): void {
  for (const [key, value] of Object.entries(headers)) {
    if (typeof value === 'string') {
      options.push({ header: { key, value } });
    } else if (Array.isArray(value)) {
      for (const item of value) {
        if (typeof item !== 'string') throw new DecisionError(`${context}: invalid value type ${goTypeName(item)} for header '${key}'`);
        options.push({ header: { key, value: item } });
      }
    } else {
      throw new DecisionError(`${context}: type assertion error for header '${key}'`);
    }
  }
}

function stringList(decision: Decision, key: string, context: string): string[] {
  const value = decision[key];
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new DecisionError(`${context}: type assertion error, expected ${key} to be of type '[]string' but got '${goTypeName(value)}'`);
  }
  for (const item of value) {
    if (typeof item !== 'string') {
      throw new DecisionError(`${context}: type assertion error, expected ${key} value to be of type 'string' but got '${goTypeName(item)}'`);
    }
  }
  return value as string[];
}

function queryParameters(decision: Decision): QueryParameter[] {
  const context = 'failed to get request query parameters to set';
  const value = decision.query_parameters_to_set;
  const parameters: QueryParameter[] = [];
  if (value === undefined) return parameters;
  if (!isObject(value)) {
    throw new DecisionError(`${context}: type assertion error, expected query_parameters_to_set to be a map but got '${goTypeName(value)}'`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'string') {
      parameters.push({ key, value: v });
    } else if (Array.isArray(v)) {
      for (const item of v) {
        if (typeof item !== 'string') {
          throw new DecisionError(`${context}: type assertion error: expected array element to be string but got '${goTypeName(item)}'`);
        }
        parameters.push({ key, value: item });
      }
    } else {
      throw new DecisionError(`${context}: type assertion error, expected value to be string or array but got '${goTypeName(v)}'`);
    }
  }
  return parameters;
}

function metadataOf(decision: Decision): JsonObject | undefined {
  const value = decision.dynamic_metadata;
  if (value === undefined) return undefined;
  if (!isObject(value)) {
    throw new DecisionError(
      `failed to get dynamic metadata: type assertion error, expected dynamic_metadata to be of type 'object' but got '${goTypeName(value)}'`,
    );
  }
  // A decision is JSON the evaluator produced, so the object holds JSON values only.
  return value as JsonObject;
}

function bodyOf(decision: Decision): string {
  const value = decision.body;
  if (value === undefined) return '';
  if (typeof value !== 'string') {
    throw new DecisionError(
      `failed to get response body: type assertion error, expected body to be of type 'string' but got '${goTypeName(value)}'`,
    );
  }
  return value;
}

function httpStatusOf(decision: Decision): number {
  const context = 'failed to get response http status';
  const value = decision.http_status;
  if (value === undefined) return FORBIDDEN;
  if (typeof value !== 'number') {
    throw new DecisionError(`${context}: type assertion error, expected http_status to be of type 'number' but got '${goTypeName(value)}'`);
  }
  let code: number;
  try {
    code = parseInt64(numberText(value));
  } catch (err) {
    if (err instanceof GoError) throw new DecisionError(`${context}: error converting JSON number to int: ${err.message}`);
    throw err;
  }
  if (!HTTP_STATUS_CODES.has(code)) throw new DecisionError(`${context}: invalid HTTP status code ${code}`);
  return code;
}

/**
 * The number as Go's json.Number text would read. The evaluator's literal is gone by now: integral
 * values read as integers (Go rejects a literal 401.0; here it is 401), and integers past 2^53 are
 * the double's exact value (Go would see the literal's digits).
 */
function numberText(n: number): string {
  return Number.isInteger(n) && !Number.isSafeInteger(n) ? BigInt(n).toString() : String(n);
}

function isObject(value: unknown): value is Decision {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

