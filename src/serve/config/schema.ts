/**
 * The gateway's settings as a file holds them (TOML or YAML, the same shape;
 * the command-line flags are turned into it too), validated by one zod schema
 * into GatewaySettings. Keys are kebab-case; unknown keys are errors, so a
 * typo never passes silently as a default.
 *
 *   listen = "127.0.0.1:8080"     # HOST:PORT, IPv6 as "[::1]:8080"
 *   max-body = "10MiB"            # request body limit
 *   header-timeout = "10s"        # time to receive a request's headers (≤ request-timeout)
 *   request-timeout = "300s"      # time for a whole request
 *   drain-timeout = "30s"         # on SIGTERM, how long in-flight requests may finish
 *
 *   [apps.hello]                  # the app's name: [a-z0-9][a-z0-9_.-]{0,62}
 *   image = "hello:1"             # file, stored tag or digest, or registry reference
 *   path = "/hello"               # route: path prefix and/or host, at least one
 *   host = "hello.example.test"
 *   strip-prefix = false
 *   env = { GREETING = "hi" }     # strings; not PORT (the gateway sets it)
 *   concurrency = 80              # requests per instance at once
 *   min-instances = 0
 *   max-instances = 4
 *   idle-timeout = "60s"
 *   start-timeout = "30s"
 *   stop-grace = "10s"            # SIGTERM, then SIGKILL after this
 *   queue-limit = 100             # requests waiting for an instance, beyond which 503
 *   health-path = "/healthz"      # default: any HTTP answer on "/"
 *   memory = "512MiB"             # or "none"
 *   max-processes = 256           # or "none"
 *   network = false               # outbound network allowed
 *
 * Durations: "500ms", "30s", "2m", "1h" or a number of seconds. Sizes:
 * "512MiB", "256M", "1G" (powers of 1024), "10MB" (powers of 1000) or a number
 * of bytes. docs/examples/serve.toml and serve.yaml are the same file in each
 * format.
 */
import * as z from "zod";
import type { AppSettings, GatewaySettings } from "../types.js";
import {

  describeValue,
  Invalid,
  orNone,
  readBoolean,
  readDuration,
  readHealthPath,
  readHostname,
  readListen,
  readPathPrefix,
  readSize,
  readWholeNumber,
} from "./units.js";

/** zod's code for an issue a refinement adds (named once, so the error-code test does not take it for one of pypakr's). */
const CUSTOM = "custom";

/** The defaults as a user writes them (and as --help shows them). */
export const GATEWAY_DEFAULTS = {
  listen: "127.0.0.1:8080",
  "max-body": "10MiB",
  "header-timeout": "10s",
  "request-timeout": "300s",
  "drain-timeout": "30s",
} as const;

export const APP_DEFAULTS = {
  "strip-prefix": false,
  concurrency: 80,
  "min-instances": 0,
  "max-instances": 4,
  "idle-timeout": "60s",
  "start-timeout": "30s",
  "stop-grace": "10s",
  "queue-limit": 100,
  memory: "512MiB",
  "max-processes": 256,
  network: false,
} as const;

const MAX_INSTANCES = 1000;
const MAX_CONCURRENCY = 10_000;
const MAX_QUEUE = 100_000;
/** Linux's own ceiling on pids (pid_max). */
const MAX_PROCESSES = 4_194_304;
const MIN_MEMORY = 1024 ** 2;

export const APP_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What each setting allows, said in the hint of an error about it. */
export const ALLOWED: Record<string, string> = {
  listen: `HOST:PORT such as "127.0.0.1:8080", "0.0.0.0:8080" or "[::1]:8080"; port 0 picks a free one (default ${GATEWAY_DEFAULTS.listen})`,
  "max-body": `the largest request body, a size such as "10MiB", "512K" or a number of bytes (default ${GATEWAY_DEFAULTS["max-body"]})`,
  "header-timeout": `time to receive a request's headers, a duration such as "10s", at most request-timeout (default ${GATEWAY_DEFAULTS["header-timeout"]})`,
  "request-timeout": `time for a whole request, a duration such as "5m" (default ${GATEWAY_DEFAULTS["request-timeout"]})`,
  "drain-timeout": `on SIGTERM, how long in-flight requests may finish, a duration such as "30s" or 0 (default ${GATEWAY_DEFAULTS["drain-timeout"]})`,
  apps: `one table per app, [apps.NAME] in TOML or "apps:" then "NAME:" in YAML, NAME matching ${APP_NAME.source}`,
  image: "the image the app runs: an image file, a stored tag or digest, or a registry reference (pulled when missing)",
  path: 'the route\'s path prefix, starting with "/" ("/" is every path), without "..", "//", "?" or "#"',
  host: 'the route\'s Host, a host name such as "hello.example.test" without a port',
  "strip-prefix": `true to send the app the path without the prefix, false for the full path (default ${APP_DEFAULTS["strip-prefix"]})`,
  env: `the app's environment, NAME = "value" strings; NAME is a letter or "_" then letters, digits or "_", and not PORT (the gateway sets it)`,
  concurrency: `requests one instance serves at once, a whole number from 1 to ${MAX_CONCURRENCY}; 1 for apps that serve one at a time (default ${APP_DEFAULTS.concurrency})`,
  "min-instances": `instances kept running when idle, a whole number from 0 to max-instances (default ${APP_DEFAULTS["min-instances"]})`,
  "max-instances": `the most instances at once, a whole number from 1 to ${MAX_INSTANCES} (default ${APP_DEFAULTS["max-instances"]})`,
  "idle-timeout": `how long an idle instance lives, a duration such as "60s" or "500ms" (default ${APP_DEFAULTS["idle-timeout"]})`,
  "start-timeout": `how long an instance may take to accept connections, a duration such as "30s" (default ${APP_DEFAULTS["start-timeout"]})`,
  "stop-grace": `time between SIGTERM and SIGKILL when an instance stops, a duration such as "10s" or 0 (default ${APP_DEFAULTS["stop-grace"]})`,
  "queue-limit": `requests that may wait for an instance before the gateway answers 503, a whole number from 0 to ${MAX_QUEUE} (default ${APP_DEFAULTS["queue-limit"]})`,
  "health-path": 'a path the gateway GETs until it answers below 500, such as "/healthz" (default: any HTTP answer on "/")',
  memory: `each instance's memory limit, a size of at least 1MiB such as "512MiB" or "1G", or "none" (default ${APP_DEFAULTS.memory})`,
  "max-processes": `each instance's process limit, a whole number from 1 to ${MAX_PROCESSES}, or "none" (default ${APP_DEFAULTS["max-processes"]})`,
  network: `true to let the app connect out, false to give it no network but its own port (default ${APP_DEFAULTS.network})`,
};

/** One setting's value: read (undefined when absent, unless a default is given), else an issue with the reader's words. */
function setting<T>(read: (value: unknown) => T | Invalid, fallback?: unknown) {
  // optional(): a key left out is read too (as undefined), so its default applies or the reader says it is missing.
  return z.unknown().optional().transform((value, ctx): T => {
    const result = read(value === undefined ? fallback : value);
    if (!(result instanceof Invalid)) return result;
    ctx.addIssue({ code: CUSTOM, message: result.problem });
    return z.NEVER;
  });
}

function optional<T>(read: (value: unknown) => T | Invalid): (value: unknown) => T | undefined | Invalid {
  return (value) => (value === undefined ? undefined : read(value));
}

function readImage(value: unknown): string | Invalid {
  if (value === undefined) return new Invalid("is missing: every app needs the image it runs");
  if (typeof value !== "string" || value.trim() === "" || value.trim() !== value || /[\p{Cc}]/u.test(value)) return new Invalid(`must be an image reference (a non-empty string without spaces around it or control characters), not ${describeValue(value)}`);
  return value;
}

/** What is wrong with one variable of an app's env, or null. */
function envProblem(name: string, value: unknown): string | null {
  if (!ENV_NAME.test(name)) return `${JSON.stringify(name)} is not a variable name`;
  if (name === "PORT") return "PORT is the gateway's: it tells each instance the port to serve on";
  if (typeof value !== "string") return `must be a string (write it in quotes), not ${describeValue(value)}`;
  if (value.includes("\0")) return "must not hold a NUL character";
  return null;
}

const envSetting = z.unknown().optional().transform((value, ctx): Record<string, string> => {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Date) {
    ctx.addIssue({ code: CUSTOM, message: `must be a table of NAME = "value" strings, not ${describeValue(value)}` });
    return z.NEVER;
  }
  const env: Record<string, string> = {};
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    const problem = envProblem(name, entry);
    if (problem) ctx.addIssue({ code: CUSTOM, message: problem, path: [name] });
    else env[name] = String(entry);
  }
  return env;
});

const wholeNumber = (min: number, max: number) => (value: unknown) => readWholeNumber(value, min, max);

const appSchema = z
  .strictObject(
    {
      image: setting(readImage),
      path: setting(optional(readPathPrefix)),
      host: setting(optional(readHostname)),
      "strip-prefix": setting(readBoolean, APP_DEFAULTS["strip-prefix"]),
      env: envSetting,
      concurrency: setting(wholeNumber(1, MAX_CONCURRENCY), APP_DEFAULTS.concurrency),
      "min-instances": setting(wholeNumber(0, MAX_INSTANCES), APP_DEFAULTS["min-instances"]),
      "max-instances": setting(wholeNumber(1, MAX_INSTANCES), APP_DEFAULTS["max-instances"]),
      "idle-timeout": setting((value) => readDuration(value, 1), APP_DEFAULTS["idle-timeout"]),
      "start-timeout": setting((value) => readDuration(value, 1), APP_DEFAULTS["start-timeout"]),
      "stop-grace": setting((value) => readDuration(value, 0), APP_DEFAULTS["stop-grace"]),
      "queue-limit": setting(wholeNumber(0, MAX_QUEUE), APP_DEFAULTS["queue-limit"]),
      "health-path": setting(optional(readHealthPath)),
      memory: setting(orNone((value) => readSize(value, MIN_MEMORY)), APP_DEFAULTS.memory),
      "max-processes": setting(orNone(wholeNumber(1, MAX_PROCESSES)), APP_DEFAULTS["max-processes"]),
      network: setting(readBoolean, APP_DEFAULTS.network),
    },
    { error: (issue) => (issue.code === "invalid_type" ? "must be a table of the app's settings" : undefined) },
  )
  .superRefine((app, ctx) => {
    if (app.path === undefined && app.host === undefined) ctx.addIssue({ code: CUSTOM, message: "has no route: give it a path, a host, or both", params: { hint: "Give it path = \"/PREFIX\" (\"/\" for every path), host = \"HOST\", or both." } });
    if (app["min-instances"] > app["max-instances"]) ctx.addIssue({ code: CUSTOM, path: ["min-instances"], message: `must not exceed max-instances (${app["max-instances"]}), not ${app["min-instances"]}` });
  });

type ParsedApp = z.output<typeof appSchema>;

/** Two apps with the same route would leave one of them unreachable. Host-only and path "/" are the same route. */
function routeOf(app: ParsedApp): string {
  return `${app.host ?? "*"} ${app.path ?? "/"}`;
}

const appsSchema = z
  .record(z.string().regex(APP_NAME, { error: `is not a valid app name: lowercase letters, digits, "_", "." and "-", starting with a letter or digit, at most 63` }), appSchema, {
    error: (issue) => (issue.code === "invalid_type" ? "must be a table of apps" : undefined),
  })
  .superRefine((apps, ctx) => {
    const seen = new Map<string, string>();
    for (const [name, app] of Object.entries(apps)) {
      const route = routeOf(app);
      const first = seen.get(route);
      if (first === undefined) seen.set(route, name);
      else ctx.addIssue({ code: CUSTOM, path: [name, app.path !== undefined ? "path" : "host"], message: `has the same route as app ${first} (${app.host ? `host ${app.host}, ` : ""}path ${app.path ?? "/"})`, params: { hint: "Give each app its own path prefix or host." } });
    }
    if (seen.size === 0) ctx.addIssue({ code: CUSTOM, message: "has no app: a gateway needs at least one", params: { hint: `Add an app: ${ALLOWED.apps}.` } });
  });

export const serveFileSchema = z
  .strictObject(
    {
      listen: setting(readListen, GATEWAY_DEFAULTS.listen),
      "max-body": setting((value) => readSize(value, 0), GATEWAY_DEFAULTS["max-body"]),
      "header-timeout": setting((value) => readDuration(value, 1), GATEWAY_DEFAULTS["header-timeout"]),
      "request-timeout": setting((value) => readDuration(value, 1), GATEWAY_DEFAULTS["request-timeout"]),
      "drain-timeout": setting((value) => readDuration(value, 0), GATEWAY_DEFAULTS["drain-timeout"]),
      // Absent (or YAML's empty "apps:") reads as no apps, which the apps' own check refuses.
      apps: z.preprocess((apps) => apps ?? {}, appsSchema),
    },
    { error: (issue) => (issue.code === "invalid_type" ? "must hold a table of settings" : undefined) },
  )
  .superRefine((file, ctx) => {
    // Node's HTTP server refuses a header timeout longer than the request timeout.
    if (file["header-timeout"] > file["request-timeout"]) ctx.addIssue({ code: CUSTOM, path: ["header-timeout"], message: `must not exceed request-timeout (${file["request-timeout"]} ms), not ${file["header-timeout"]} ms` });
  });

/** The settings a file (or the flags) gave; the registry connection comes from the command line. */
export type FileSettings = Omit<GatewaySettings, "insecure" | "caFile">;

export function toSettings(file: z.output<typeof serveFileSchema>): FileSettings {
  return {
    listen: file.listen,
    maxBodyBytes: file["max-body"],
    headersTimeoutMs: file["header-timeout"],
    requestTimeoutMs: file["request-timeout"],
    drainTimeoutMs: file["drain-timeout"],
    apps: Object.entries(file.apps).map(([name, app]) => toAppSettings(name, app)),
  };
}

function toAppSettings(name: string, app: ParsedApp): AppSettings {
  return {
    name,
    image: app.image,
    ...(app.path !== undefined ? { path: app.path } : {}),
    ...(app.host !== undefined ? { host: app.host } : {}),
    stripPrefix: app["strip-prefix"],
    env: app.env,
    concurrency: app.concurrency,
    minInstances: app["min-instances"],
    maxInstances: app["max-instances"],
    idleTimeoutMs: app["idle-timeout"],
    startTimeoutMs: app["start-timeout"],
    stopGraceMs: app["stop-grace"],
    queueLimit: app["queue-limit"],
    ...(app["health-path"] !== undefined ? { healthPath: app["health-path"] } : {}),
    ...(app.memory !== undefined ? { memoryBytes: app.memory } : {}),
    ...(app["max-processes"] !== undefined ? { maxProcesses: app["max-processes"] } : {}),
    network: app.network,
  };
}

/** One thing wrong, where it is (a path of keys) and what is allowed there. */
export interface Problem {
  path: PropertyKey[];
  message: string;
  hint: string;
}

const TOP_KEYS = [...Object.keys(GATEWAY_DEFAULTS), "apps"];
const APP_KEYS = Object.keys(appSchema.shape);

/** zod's issues in pypakr's words: an unknown key is a problem at that key, each setting's hint says what it allows. */
export function problemsOf(issues: z.core.$ZodIssue[]): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    if (issue.code === "unrecognized_keys") {
      const inApp = issue.path[0] === "apps" && issue.path.length === 2;
      const allowed = inApp ? APP_KEYS : TOP_KEYS;
      return issue.keys.map((key) => ({
        path: [...issue.path, key],
        message: `unknown setting ${JSON.stringify(key)}`,
        hint: `Allowed ${inApp ? "in an app" : "at the top"}: ${allowed.join(", ")}.`,
      }));
    }
    const message = issue.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    const hint = (issue.code === CUSTOM ? (issue.params as { hint?: string } | undefined)?.hint : undefined) ?? hintFor(issue.path);
    return [{ path: issue.path, message, hint }];
  });
}

function hintFor(path: PropertyKey[]): string {
  const key = path[0] === "apps" ? (path.length === 2 ? "apps" : path[2]) : path[0];
  const allowed = typeof key === "string" ? ALLOWED[key] : undefined;
  return allowed ? `${allowed[0]?.toUpperCase() ?? ""}${allowed.slice(1)}.` : `The settings: ${TOP_KEYS.join(", ")}; in an app: ${APP_KEYS.join(", ")}.`;
}
