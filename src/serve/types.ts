/** The gateway's settings after validation: durations in ms, sizes in bytes. */

export interface AppSettings {
  /** Unique name ([a-z0-9][a-z0-9_.-]*), from the config table's key or, for --route, from the image reference. */
  name: string;
  /** Image file, stored tag or digest, or registry reference (pulled when missing). */
  image: string;
  /** Path prefix ("/" matches all; "/hello" matches /hello and /hello/...) and/or Host (exact, case-insensitive, no port). At least one. */
  path?: string;
  host?: string;
  /** Strip the path prefix before proxying (default false: the app sees the full path). */
  stripPrefix: boolean;
  env: Record<string, string>;
  concurrency: number; // default 80
  minInstances: number; // default 0
  maxInstances: number; // default 4
  idleTimeoutMs: number; // default 60_000
  startTimeoutMs: number; // default 30_000
  stopGraceMs: number; // default 10_000
  /** Requests waiting for an instance, beyond which 503 + Retry-After (default 100). */
  queueLimit: number;
  /** Readiness: GET this path must answer (any status < 500); undefined = any HTTP answer on "/". */
  healthPath?: string;
  memoryBytes?: number; // default 512 MiB
  maxProcesses?: number; // default 256
  network: boolean; // outbound allowed; default false
}

export interface GatewaySettings {
  listen: { host: string; port: number }; // default 127.0.0.1:8080
  /** Request body limit in bytes (default 10 MiB), header timeout (default 10 s), whole request timeout (default 300 s), drain on SIGTERM (default 30 s). */
  maxBodyBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  drainTimeoutMs: number;
  /** Registry connection for images that have to be pulled. */
  insecure: boolean;
  caFile?: string;
  apps: AppSettings[];
}
