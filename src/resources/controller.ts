// From stored resources to what the agent enforces. On the way in (admission) every OPAPolicy a write
// touches is resolved and its Rego compiled, so a bad secret or a compile error is the writer's error
// and nothing changes; after a write, the OPAPolicy that selects this data plane is applied (policy,
// agentConfig, authConfig), and when none does the agent returns to its boot state.
import { createHash } from 'node:crypto';
import type { Agent } from '../agent.js';
import type { ActivePolicy } from '../engine/load.js';
import type { Logger } from '../log.js';
import type { PolicyInput } from '../public-types.js';
import { resolveOpaPolicy, type ResolvedOpaPolicy } from './opapolicy.js';
import { selectPolicy, type DataplaneIdentity, type Selection } from './selection.js';
import type { Change, StoreView } from './store.js';
import { ValidationError, type Resource } from './types.js';

/** What /v1/status and the logs show about the OPAPolicy in force. */
export interface OpaPolicyStatus {
  mesh: string;
  name: string;
  /** Index of the selector that matched, and how many non-wildcard tags it has. */
  selector: number;
  specificity: number;
  /** Every OPAPolicy that matched, with its specificity: the most specific wins, then the first name. */
  candidates: { name: string; specificity: number }[];
  /** When it was applied (RFC 3339). */
  appliedAt: string;
}

/** Compiled policies kept for reuse between admission and application (and flip-flops between two policies). */
const LOADED_CACHE = 8;

export class ResourceController {
  private applied: { fingerprint: string; status: OpaPolicyStatus } | undefined;
  private readonly loaded = new Map<string, ActivePolicy>();
  /** Applications run one at a time, so the last store state is the one enforced. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly agent: Agent,
    private readonly identity: DataplaneIdentity | undefined,
    private readonly log: Logger,
  ) {}

  get status(): OpaPolicyStatus | undefined {
    return this.applied?.status;
  }

  /** The store's admission hook: refuses a write that would leave an OPAPolicy unresolvable or not compiling. */
  readonly admit = async (view: StoreView, changes: readonly Change[]): Promise<void> => {
    for (const policy of affectedPolicies(view, changes)) {
      const where = changes.some((c) => c.type === 'OPAPolicy' && c.mesh === policy.mesh && c.name === policy.name) ? '' : `OPAPolicy ${policy.mesh}/${policy.name}: `;
      try {
        const resolved = resolveOpaPolicy(policy, secretLookup(view, policy.mesh));
        if (resolved.agentConfig) this.checkAgentConfig(resolved.agentConfig);
        if (resolved.policy) await this.load(policy, resolved);
      } catch (err) {
        if (err instanceof ValidationError && where) throw new ValidationError(err.violations.map((v) => ({ field: v.field, message: `${where}${v.message}` })), err.title);
        if (err instanceof Error && where) err.message = `${where}${err.message}`;
        throw err;
      }
    }
  };

  /** Applies the OPAPolicy selecting this data plane (after a committed change, and once at start). */
  reconcile(view: StoreView): Promise<void> {
    const run = this.queue.then(() => this.apply(view));
    this.queue = run.catch((err: unknown) => this.log.error('cannot apply the OPAPolicy; the previous state stays in force', { err: err instanceof Error ? err.message : String(err) }));
    return run;
  }

  private async apply(view: StoreView): Promise<void> {
    const mesh = this.identity?.mesh ?? this.agent.settings.dataplaneMesh;
    const policies = view.list('OPAPolicy', mesh).map((s) => s.resource);
    const selection = selectPolicy(policies, this.identity);
    if (!selection) return this.backToBoot(policies.length);
    const policy = selection.policy;
    const resolved = resolveOpaPolicy(policy, secretLookup(view, mesh));
    const fingerprint = fingerprintOf(policy, resolved);
    if (this.applied?.fingerprint === fingerprint) {
      this.applied.status = { ...statusOf(mesh, selection), appliedAt: this.applied.status.appliedAt };
      return;
    }
    const active = resolved.policy ? await this.load(policy, resolved) : undefined;
    await this.agent.applyAgentConfig(resolved.agentConfig);
    // Synchronous from here: no check runs between the authConfig and the policy swap.
    this.agent.applyAuthOverlay(resolved.authConfig);
    this.agent.setPolicyLayer('resource', active);
    const status = statusOf(mesh, selection);
    this.applied = { fingerprint, status };
    this.log.info('OPAPolicy applied', { mesh, name: policy.name, selector: status.selector, specificity: status.specificity, candidates: status.candidates, policy: active ? active.revision : 'none (boot policy kept)' });
  }

  private async backToBoot(inMesh: number): Promise<void> {
    if (!this.applied) return;
    const previous = this.applied.status;
    await this.agent.applyAgentConfig(undefined);
    this.agent.applyAuthOverlay({});
    this.agent.setPolicyLayer('resource', undefined);
    this.applied = undefined;
    this.log.info('no OPAPolicy selects this data plane; back to the boot policy and configuration', { previous: `${previous.mesh}/${previous.name}`, policies_in_mesh: inMesh });
  }

  private checkAgentConfig(agentConfig: Record<string, unknown>): void {
    try {
      this.agent.validateAgentConfig(agentConfig);
    } catch (err) {
      throw new ValidationError([{ field: 'conf.agentConfig', message: err instanceof Error ? err.message : String(err) }]);
    }
  }

  private async load(policy: Resource, resolved: ResolvedOpaPolicy): Promise<ActivePolicy> {
    const key = policyKey(resolved);
    const cached = this.loaded.get(key);
    if (cached) return cached;
    const origin = `OPAPolicy ${policy.mesh}/${policy.name}`;
    const input: PolicyInput = 'rego' in resolved.policy! ? { rego: resolved.policy.rego, origin } : { bundle: resolved.policy!.bundle, origin };
    const active = await this.agent.loadPolicy(input);
    this.loaded.set(key, active);
    if (this.loaded.size > LOADED_CACHE) this.loaded.delete(this.loaded.keys().next().value!);
    return active;
  }
}

/** OPAPolicies a change may affect: the changed ones, and those referring to a changed Secret of their mesh. */
function affectedPolicies(view: StoreView, changes: readonly Change[]): Resource[] {
  const out = new Map<string, Resource>();
  for (const change of changes) {
    if (change.type === 'OPAPolicy' && change.kind === 'put') {
      const stored = view.get('OPAPolicy', change.mesh, change.name);
      if (stored) out.set(`${change.mesh}/${change.name}`, stored.resource);
    }
    if (change.type === 'Secret') {
      for (const { resource } of view.list('OPAPolicy', change.mesh)) {
        if (secretsOf(resource).includes(change.name)) out.set(`${resource.mesh}/${resource.name}`, resource);
      }
    }
  }
  return [...out.values()];
}

function secretsOf(policy: Resource): string[] {
  const conf = (policy.conf ?? {}) as { policies?: { secret?: unknown }[]; agentConfig?: { secret?: unknown } };
  const names = (conf.policies ?? []).map((p) => p.secret);
  names.push(conf.agentConfig?.secret);
  return names.filter((n): n is string => typeof n === 'string');
}

function secretLookup(view: StoreView, mesh: string | undefined): (name: string) => Resource | undefined {
  return (name) => view.get('Secret', mesh, name)?.resource;
}

function policyKey(resolved: ResolvedOpaPolicy): string {
  const hash = createHash('sha256');
  const p = resolved.policy!;
  if ('rego' in p) for (const m of p.rego) hash.update(`${m.name}\0${m.source}\0`);
  else hash.update(p.bundle);
  return hash.digest('hex');
}

function fingerprintOf(policy: Resource, resolved: ResolvedOpaPolicy): string {
  return JSON.stringify([policy.mesh, policy.name, resolved.policy ? policyKey(resolved) : null, resolved.agentConfig ?? null, resolved.authConfig]);
}

function statusOf(mesh: string, s: Selection): OpaPolicyStatus {
  return { mesh, name: s.policy.name, selector: s.selectorIndex, specificity: s.specificity, candidates: s.candidates, appliedAt: new Date().toISOString() };
}
