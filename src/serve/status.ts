/** `/_pypakr/status` (JSON for people and scripts) and `/_pypakr/metrics` (Prometheus' text exposition format, version 0.0.4). */
import type { AppPool } from "./app.js";
import { DURATION_BUCKETS } from "./stats.js";

export function statusDocument(apps: AppPool[], startedAt: Date): unknown {
  return {
    startedAt: startedAt.toISOString(),
    apps: apps.map((app) => ({
      name: app.settings.name,
      image: app.settings.image,
      digest: app.digest,
      route: { ...(app.settings.host !== undefined ? { host: app.settings.host } : {}), ...(app.settings.path !== undefined ? { path: app.settings.path } : {}) },
      instances: [...app.instances].map((instance) => ({ id: instance.id, state: instance.state, inFlight: instance.inFlight })),
      coldStarts: app.stats.coldStarts,
      crashes: app.stats.crashes,
      requests: app.stats.requests,
      rejected: app.stats.rejected,
      queued: app.queued,
      responses: Object.fromEntries(app.stats.byStatusClass),
      latencyMs: app.stats.latency(),
    })),
  };
}

export function metricsText(apps: AppPool[]): string {
  const lines: string[] = [];
  const family = (name: string, type: "counter" | "gauge" | "histogram", help: string, samples: string[]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
  };
  const label = (app: AppPool, extra = "") => `{app="${escapeLabel(app.settings.name)}"${extra}}`;
  family(
    "pypakr_serve_requests_total",
    "counter",
    "Requests answered, by app and status class.",
    apps.flatMap((app) => [...app.stats.byStatusClass].map(([statusClass, count]) => `pypakr_serve_requests_total${label(app, `,code="${statusClass}"`)} ${count}`)),
  );
  family("pypakr_serve_cold_starts_total", "counter", "Instances started and ready.", apps.map((app) => `pypakr_serve_cold_starts_total${label(app)} ${app.stats.coldStarts}`));
  family("pypakr_serve_crashes_total", "counter", "Instances that ended without being stopped.", apps.map((app) => `pypakr_serve_crashes_total${label(app)} ${app.stats.crashes}`));
  family("pypakr_serve_rejected_total", "counter", "Requests turned away with 503 (queue full, start failed or timed out).", apps.map((app) => `pypakr_serve_rejected_total${label(app)} ${app.stats.rejected}`));
  family(
    "pypakr_serve_instances",
    "gauge",
    "Instances by state.",
    apps.flatMap((app) => (["starting", "ready", "stopping"] as const).map((state) => `pypakr_serve_instances${label(app, `,state="${state}"`)} ${[...app.instances].filter((instance) => instance.state === state).length}`)),
  );
  family("pypakr_serve_queued_requests", "gauge", "Requests waiting for an instance.", apps.map((app) => `pypakr_serve_queued_requests${label(app)} ${app.queued}`));
  family(
    "pypakr_serve_request_duration_seconds",
    "histogram",
    "Time from a request's arrival to the end of its response.",
    apps.flatMap((app) => [
      ...DURATION_BUCKETS.map((bound, i) => `pypakr_serve_request_duration_seconds_bucket${label(app, `,le="${bound}"`)} ${app.stats.bucketCounts[i] ?? 0}`),
      `pypakr_serve_request_duration_seconds_bucket${label(app, ',le="+Inf"')} ${app.stats.requests}`,
      `pypakr_serve_request_duration_seconds_sum${label(app)} ${app.stats.durationSum}`,
      `pypakr_serve_request_duration_seconds_count${label(app)} ${app.stats.requests}`,
    ]),
  );
  return lines.join("\n") + "\n";
}

/** Label values escape backslash, double quote and line feed (the format's rule); app names are restricted anyway. */
function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}
