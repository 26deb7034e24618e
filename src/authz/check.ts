// The hot path: one CheckRequest in, one CheckResponse out. Decoding and encoding happen in the gRPC
// (de)serializers (wire.ts); everything between is here, top to bottom: input, evaluation, response,
// and the agent's own answer when the policy cannot decide (Kong Mesh's onAgentFailure / statusOnError).
import { randomUUID } from 'node:crypto';
import type { ActivePolicy } from '../engine/load.js';
import type { Logger } from '../log.js';
import type { AgentMetrics } from '../metrics.js';
import { RequestParseError } from './errors.js';
import { buildInput } from './input.js';
import { decisionToResponse, DecisionError, requestParseErrorResponse } from './response.js';
import type { ApiVersion, AuthConfig, CheckResponse, DecodedRequest } from './types.js';

const PERMISSION_DENIED = 7;
const OK = 0;

/** Why the agent, not the policy, answered (error_counter reasons; the first three are the Go plugin's). */
export type FailureReason =
  | 'envoyauth_eval_error'
  | 'envoyauth_result_error'
  | 'request_parse_error'
  | 'no_policy_loaded';

export interface CheckSettings {
  authConfig: AuthConfig;
  dryRun: boolean;
  skipRequestBodyParse: boolean;
}

/** What a check reads; the agent replaces `policy` or `settings` whole to swap them atomically. */
export interface CheckState {
  policy: ActivePolicy | undefined;
  settings: CheckSettings;
}

/** A decision as observers (decision logs, events) see it, after the answer is built. */
export interface DecisionRecord {
  decisionId: string;
  /** The ext_authz API the check came in on; absent for REST API decisions. */
  version?: ApiVersion;
  /** The data path decided, for REST API decisions (checks use the configured decision path). */
  path?: string;
  input: Record<string, unknown> | undefined;
  result: unknown;
  error?: { reason: FailureReason | string; message: string };
  allowed: boolean;
  revision: string | undefined;
  durationSeconds: number;
}

export interface CheckDeps {
  state: CheckState;
  metrics: AgentMetrics;
  log: Logger;
  /** Called after every decision; must not throw or block (queue, don't await). */
  onDecision?: (record: DecisionRecord) => void;
}

export function createChecker(deps: CheckDeps): (req: DecodedRequest | RequestParseError, version: ApiVersion) => CheckResponse {
  const { state, metrics, log, onDecision } = deps;

  return function check(req, version) {
    const started = process.hrtime.bigint();
    const decisionId = randomUUID();
    // Read once: a swap during this check does not mix old and new.
    const active = state.policy;
    const settings = state.settings;

    let input: Record<string, unknown> | undefined;
    let result: unknown;
    let response: CheckResponse;
    let failure: { reason: FailureReason; message: string } | undefined;

    if (!active) {
      failure = { reason: 'no_policy_loaded', message: 'no policy is loaded' };
      response = agentFailure(settings.authConfig, decisionId);
    } else {
      try {
        if (req instanceof RequestParseError) throw req;
        input = buildInput(req, version, settings);
        result = active.policy.evaluate(input);
        if (result === undefined) throw new UndefinedDecision();
        response = decisionToResponse(result, decisionId, settings);
      } catch (err) {
        if (err instanceof RequestParseError) {
          // The plugin answers a request it cannot read itself: a 400 denial, not an agent failure.
          failure = { reason: 'request_parse_error', message: err.message };
          response = requestParseErrorResponse(err.message);
        } else {
          failure = {
            reason: err instanceof DecisionError ? 'envoyauth_result_error' : 'envoyauth_eval_error',
            message: err instanceof Error ? err.message : String(err),
          };
          response = agentFailure(settings.authConfig, decisionId);
        }
      }
    }

    const allowed = response.status.code === OK;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.observeCheck(seconds);
    if (failure) {
      metrics.countError(failure.reason);
      metrics.countDecision(failure.reason === 'request_parse_error' ? 'deny' : 'error');
      log.warn('check answered by the agent', { 'decision-id': decisionId, reason: failure.reason, err: failure.message, allowed });
    } else {
      metrics.countDecision(allowed ? 'allow' : 'deny');
    }
    onDecision?.({
      decisionId,
      version,
      input,
      result,
      ...(failure ? { error: failure } : {}),
      allowed,
      revision: active?.revision,
      durationSeconds: seconds,
    });
    return response;
  };
}

class UndefinedDecision extends Error {
  constructor() {
    super('undefined decision');
  }
}

/** The answer when the policy could not decide: Kong Mesh's onAgentFailure with statusOnError. */
export function agentFailure(auth: AuthConfig, decisionId: string): CheckResponse {
  if (auth.onAgentFailure === 'allow') {
    return { status: { code: OK }, okResponse: {}, dynamicMetadata: { decision_id: decisionId } };
  }
  return {
    status: { code: PERMISSION_DENIED },
    deniedResponse: { status: auth.statusOnError },
    dynamicMetadata: { decision_id: decisionId },
  };
}
