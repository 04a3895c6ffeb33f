/**
 * What the gateway counts per app, for `/_pypakr/status` and `/_pypakr/metrics`.
 * Latencies are kept as the last LATENCY_WINDOW samples, so memory stays
 * bounded however long the gateway runs and the percentiles follow the
 * current load rather than the whole history.
 */
const LATENCY_WINDOW = 2048;

/** Upper bounds (seconds) of the request-duration histogram's buckets, as Prometheus' client libraries default them. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class AppStats {
  requests = 0;
  coldStarts = 0;
  /** Instances that ended without being asked to (crashes, limits hit). */
  crashes = 0;
  /** Requests turned away: queue full (503) or no instance could start (503/502). */
  rejected = 0;
  readonly byStatusClass = new Map<string, number>();
  /** Cumulative histogram counts, one per DURATION_BUCKETS bound, plus the total seconds. */
  readonly bucketCounts = DURATION_BUCKETS.map(() => 0);
  durationSum = 0;
  private readonly window: number[] = [];
  private next = 0;

  record(status: number, ms: number): void {
    this.requests += 1;
    const statusClass = `${Math.floor(status / 100)}xx`;
    this.byStatusClass.set(statusClass, (this.byStatusClass.get(statusClass) ?? 0) + 1);
    const seconds = ms / 1000;
    this.durationSum += seconds;
    DURATION_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.bucketCounts[i] = (this.bucketCounts[i] ?? 0) + 1;
    });
    if (this.window.length < LATENCY_WINDOW) this.window.push(ms);
    else this.window[this.next] = ms;
    this.next = (this.next + 1) % LATENCY_WINDOW;
  }

  /** p50 and p95 of the recent window, in ms (null before the first request). */
  latency(): { p50: number | null; p95: number | null } {
    if (this.window.length === 0) return { p50: null, p95: null };
    const sorted = [...this.window].sort((a, b) => a - b);
    const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0);
    return { p50: at(0.5), p95: at(0.95) };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
