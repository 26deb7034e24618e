// The agent's Prometheus metrics, on a registry of its own so two agents in one process stay apart.
// Names follow the Go OPA-Envoy plugin where it has the metric.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type DecisionKind = 'allow' | 'deny' | 'error';

export interface AgentMetrics {
  readonly registry: Registry;
  observeCheck(seconds: number): void;
  countDecision(kind: DecisionKind): void;
  countError(reason: string): void;
  countPolicyLoad(outcome: 'success' | 'failure'): void;
  /** The active policy's revision, as an info metric (value 1 on its revision label). */
  setPolicyRevision(revision: string): void;
}

export const DEFAULT_DURATION_BUCKETS = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1];

export function createMetrics(options: { buckets?: number[]; processMetrics?: boolean } = {}): AgentMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'grpc_request_duration_seconds',
    help: 'A histogram of duration for grpc authz requests.',
    labelNames: ['handler'],
    buckets: options.buckets ?? DEFAULT_DURATION_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'error_counter',
    help: 'A counter for errors',
    labelNames: ['reason'],
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'kmesh_opa_decisions_total',
    help: 'Checks answered, by outcome: allow, deny, or error (answered by onAgentFailure).',
    labelNames: ['decision'],
    registers: [registry],
  });
  const loads = new Counter({
    name: 'kmesh_opa_policy_loads_total',
    help: 'Policy activations attempted, by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const revisionInfo = new Gauge({
    name: 'kmesh_opa_policy_revision_info',
    help: 'The revision of the policy being enforced (bundle manifest revision, or sha256 of compiled Rego).',
    labelNames: ['revision'],
    registers: [registry],
  });
  // Label children are resolved once: the check path only increments.
  const checkDuration = duration.labels({ handler: 'check' });
  const decisionChildren = {
    allow: decisions.labels({ decision: 'allow' }),
    deny: decisions.labels({ decision: 'deny' }),
    error: decisions.labels({ decision: 'error' }),
  };
  for (const child of Object.values(decisionChildren)) child.inc(0);
  return {
    registry,
    observeCheck: (seconds) => checkDuration.observe(seconds),
    countDecision: (kind) => decisionChildren[kind].inc(),
    countError: (reason) => errors.labels({ reason }).inc(),
    countPolicyLoad: (outcome) => loads.labels({ outcome }).inc(),
    setPolicyRevision: (revision) => {
      revisionInfo.reset();
      revisionInfo.labels({ revision }).set(1);
    },
  };
}
