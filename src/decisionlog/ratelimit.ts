// decision_logs.reporting.max_decisions_per_second: a token bucket like Go's rate.Limiter, starting
// full, holding max(1, rate) tokens.
import { performance } from 'node:perf_hooks';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly burst: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.burst = Math.max(1, Math.trunc(perSecond));
    this.tokens = this.burst;
    this.last = now();
  }

  /** Takes a token if one is there. */
  allow(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
