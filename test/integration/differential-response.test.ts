// Whole CheckResponses, differentially: kmesh-opa and the Go OPA-Envoy plugin (the reference) run
// test/policies/decisions.rego, which returns one decision per "x-case" header value, and must answer
// each the same (status, headers, body, HTTP status, dynamic metadata; only decision_id differs).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { comparableResponse, sideBySide } from '../helpers/differential.js';
import { httpRequest } from '../helpers/envoy-client.js';
import { POLICIES } from '../helpers/tools.js';

const DECISIONS = join(POLICIES, 'decisions.rego');

type Version = 'v2' | 'v3';

// v2's OkHttpResponse has only headers, and its CheckResponse no dynamic_metadata: the plugin drops the rest.
const v3Only = (path: string) => (res: Record<string, unknown>, version: Version) =>
  version === 'v3' ? expect(res).toHaveProperty(path) : expect(res).toHaveProperty('ok_response');

/** Each case, with what the reference's answer must show so that the comparison is about something. */
const CASES: Record<string, (res: Record<string, unknown>, version: Version) => void> = {
  'bool-true': (res) => expect(res).not.toHaveProperty('status.code'),
  'bool-false': (res) => expect(res).toHaveProperty('status.code', 7),
  'allowed-only': (res) => expect(res).toHaveProperty('ok_response'),
  'denied-only': (res) => expect(res).toHaveProperty('denied_response.status.code', 'Forbidden'),
  'headers-object': (res) => expect(res).toHaveProperty('ok_response.headers'),
  'headers-list': (res) => expect(res).toHaveProperty('ok_response.headers'),
  'headers-denied': (res) => expect(res).toHaveProperty('denied_response.status.code', 'Unauthorized'),
  'response-headers-to-add': v3Only('ok_response.response_headers_to_add'),
  'request-headers-to-remove': v3Only('ok_response.headers_to_remove'),
  'query-parameters-to-set': v3Only('ok_response.query_parameters_to_set'),
  'query-parameters-to-remove': v3Only('ok_response.query_parameters_to_remove'),
  body: (res) => expect(res).toHaveProperty('denied_response.body'),
  'body-on-allow': (res) => expect(res).toHaveProperty('ok_response'),
  'http-status': (res) => expect(res).toHaveProperty('denied_response.status.code', 'TooManyRequests'),
  'http-status-redirect': (res) => expect(res).toHaveProperty('denied_response.status.code', 'Found'),
  'dynamic-metadata': v3Only('dynamic_metadata.fields.obj'),
  'dynamic-metadata-denied': (res, version) =>
    version === 'v3' ? expect(res).toHaveProperty('dynamic_metadata.fields.reason') : expect(res).toHaveProperty('denied_response.status.code', 'Forbidden'),
  'empty-lists': (res) => expect(res).toHaveProperty('ok_response'),
  'everything-allowed': v3Only('ok_response.query_parameters_to_remove'),
  'everything-denied': (res) => expect(res).toHaveProperty('denied_response.status.code', 'ServiceUnavailable'),
  'unknown-keys-ignored': (res) => expect(res).toHaveProperty('ok_response'),
};

describe('CheckResponse: kmesh-opa answers every decision form as the Go plugin does', () => {
  const { clients, agent, plugin } = sideBySide([DECISIONS]);

  for (const version of ['v3', 'v2'] as const) {
    describe(version, () => {
      for (const [name, checkReference] of Object.entries(CASES)) {
        it(`decision "${name}"`, async () => {
          const request = httpRequest({ method: 'POST', path: '/resource?drop=1', headers: { 'x-case': name } });
          const [ours, theirs] = await Promise.all([clients[`ours-${version}`]!.check(request), clients[`go-${version}`]!.check(request)]);
          checkReference(theirs as Record<string, unknown>, version);
          expect(comparableResponse(ours)).toEqual(comparableResponse(theirs));
          if (version === 'v3') {
            // Both tag every answer with a decision id, a fresh UUID.
            expect(ours.dynamic_metadata?.fields).toHaveProperty('decision_id.stringValue', expect.stringMatching(/^[0-9a-f-]{36}$/));
          }
        });
      }
    });
  }
});
