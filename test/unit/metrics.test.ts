import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';

describe('agent metrics', () => {
  it('the revision info metric names only the policy enforced now', async () => {
    const m = createMetrics({ processMetrics: false });
    m.setPolicyRevision('rev-1');
    m.setPolicyRevision('rev-2');
    const text = await m.registry.metrics();
    expect(text).toMatch(/^kmesh_opa_policy_revision_info\{revision="rev-2"\} 1$/m);
    expect(text).not.toContain('rev-1');
  });

  it('two agents keep separate registries', async () => {
    const a = createMetrics({ processMetrics: false });
    const b = createMetrics({ processMetrics: false });
    a.countDecision('allow');
    expect(await a.registry.getSingleMetricAsString('kmesh_opa_decisions_total')).toMatch(/decision="allow"\} 1$/m);
    expect(await b.registry.getSingleMetricAsString('kmesh_opa_decisions_total')).toMatch(/decision="allow"\} 0$/m);
  });
});
