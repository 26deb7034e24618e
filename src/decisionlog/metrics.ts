// The decision logger's Prometheus counters. OPA keeps the equivalent counts in its status API only;
// here they are on the agent's registry.
import { Counter, type Registry } from 'prom-client';
import type { DropReason as BufferDropReason } from './buffer.js';

export type DropReason = BufferDropReason | 'rate_limit' | 'queue_limit' | 'policy_error' | 'stopped' | 'shutdown';

const DROP_REASONS: readonly DropReason[] = ['buffer_limit', 'encoding_failure', 'rate_limit', 'queue_limit', 'policy_error', 'stopped', 'shutdown'];

export interface DecisionLogMetrics {
  dropped(reason: DropReason, events: number): void;
  uploaded(events: number): void;
  uploadFailed(): void;
}

export function createDecisionLogMetrics(registry: Registry): DecisionLogMetrics {
  const dropped = counter(registry, {
    name: 'kmesh_opa_decision_logs_dropped_total',
    help:
      'Decision log events lost, by reason: buffer_limit (evicted from a full buffer, oldest first), ' +
      'encoding_failure (larger than upload_size_limit_bytes), rate_limit (max_decisions_per_second), ' +
      'queue_limit (the logger fell behind the checks), policy_error (the mask or drop policy failed), ' +
      'stopped (logged after stop), shutdown (not delivered when stop gave up).',
    labelNames: ['reason'],
  });
  const uploads = counter(registry, {
    name: 'kmesh_opa_decision_logs_uploads_total',
    help: 'Decision log upload requests, by outcome (success: a 2xx answer).',
    labelNames: ['outcome'],
  });
  const events = counter(registry, {
    name: 'kmesh_opa_decision_logs_uploaded_events_total',
    help: 'Decision log events delivered to the decision log service.',
    labelNames: [],
  });
  const byReason = new Map(DROP_REASONS.map((r) => [r, dropped.labels({ reason: r })]));
  for (const child of byReason.values()) child.inc(0);
  const success = uploads.labels({ outcome: 'success' });
  const failure = uploads.labels({ outcome: 'failure' });
  success.inc(0);
  failure.inc(0);
  return {
    dropped: (reason, n) => byReason.get(reason)!.inc(n),
    uploaded: (n) => {
      success.inc();
      events.inc(n);
    },
    uploadFailed: () => failure.inc(),
  };
}

/** The registry's counter of that name if a previous logger registered it (reconfiguration), else a new one. */
function counter(registry: Registry, config: { name: string; help: string; labelNames: string[] }): Counter<string> {
  const existing = registry.getSingleMetric(config.name);
  if (existing instanceof Counter) return existing as Counter<string>;
  return new Counter({ ...config, registers: [registry] });
}
