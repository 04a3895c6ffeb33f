/**
 * `pypakr serve`'s settings from its command line: either --config FILE, or
 * --route flags with the other settings as flags (the two exclude each other:
 * a file holds every setting, so a flag beside it would leave the reader
 * guessing which wins).
 *
 *   --route /PREFIX=IMAGE        requests under /PREFIX go to IMAGE's app
 *   --route HOST/PREFIX=IMAGE    only those whose Host is HOST ("HOST/=IMAGE": all of HOST's)
 *
 * The per-app flags apply to every --route app. The flags are turned into the
 * file's shape and go through the same schema, so a value means the same and
 * is refused in the same words, with the flag named instead of FILE:LINE.
 */
import { usageError } from "../../util/errors.js";
import type { GatewaySettings } from "../types.js";
import { loadServeConfig, settingsFrom } from "./load.js";
import type { Problem } from "./schema.js";

/** The command's options, as src/cli/commands/serve.ts declares them. */
export interface ServeFlags {
  config?: string | undefined;
  listen?: string | undefined;
  route: string[];
  maxBody?: string | undefined;
  headerTimeout?: string | undefined;
  requestTimeout?: string | undefined;
  drainTimeout?: string | undefined;
  stripPrefix: boolean;
  env: Record<string, string>;
  concurrency?: string | undefined;
  minInstances?: string | undefined;
  maxInstances?: string | undefined;
  idleTimeout?: string | undefined;
  startTimeout?: string | undefined;
  stopGrace?: string | undefined;
  queueLimit?: string | undefined;
  healthPath?: string | undefined;
  memory?: string | undefined;
  maxProcesses?: string | undefined;
  network: boolean;
  insecure: boolean;
  caFile?: string | undefined;
}

type SettingFlag = Exclude<keyof ServeFlags, "config" | "route" | "env" | "insecure" | "caFile">;

/** Each settings flag and the file key it stands for; whole numbers arrive as digits and are made numbers first. */
const GATEWAY_FLAGS: Partial<Record<SettingFlag, string>> = { listen: "listen", maxBody: "max-body", headerTimeout: "header-timeout", requestTimeout: "request-timeout", drainTimeout: "drain-timeout" };
const APP_FLAGS: Partial<Record<SettingFlag, string>> = {
  stripPrefix: "strip-prefix",
  concurrency: "concurrency",
  minInstances: "min-instances",
  maxInstances: "max-instances",
  idleTimeout: "idle-timeout",
  startTimeout: "start-timeout",
  stopGrace: "stop-grace",
  queueLimit: "queue-limit",
  healthPath: "health-path",
  memory: "memory",
  maxProcesses: "max-processes",
  network: "network",
};
const WHOLE_NUMBERS = new Set(["concurrency", "min-instances", "max-instances", "queue-limit", "max-processes"]);

/** The gateway's settings from --config or from the flags, with the registry connection from --insecure and --ca-file. */
export async function serveSettings(flags: ServeFlags): Promise<GatewaySettings> {
  const connection = { insecure: flags.insecure, ...(flags.caFile !== undefined ? { caFile: flags.caFile } : {}) };
  if (flags.config !== undefined) {
    const beside = givenSettingFlags(flags);
    if (beside.length > 0) throw usageError("usage", `--config excludes ${beside.join(", ")}: the file holds every setting`, "Put these settings in the file, or leave out --config and give --route with the flags.");
    return { ...(await loadServeConfig(flags.config)), ...connection };
  }
  if (flags.route.length === 0) throw usageError("usage", "pypakr serve needs --config FILE or at least one --route /PREFIX=IMAGE", "e.g. pypakr serve --route /hello=hello:1, or pypakr serve --config serve.toml");
  return { ...settingsFromFlags(flags), ...connection };
}

function givenSettingFlags(flags: ServeFlags): string[] {
  const given = Object.entries({ ...GATEWAY_FLAGS, ...APP_FLAGS }).filter(([option]) => {
    const value = flags[option as SettingFlag];
    return value !== undefined && value !== false;
  });
  return [
    ...(flags.route.length > 0 ? ["--route"] : []),
    ...given.map(([, key]) => `--${key}`),
    ...(Object.keys(flags.env).length > 0 ? ["--env"] : []),
  ];
}

/** The settings of `pypakr serve --route ...` and its flags (without the registry connection). */
export function settingsFromFlags(flags: ServeFlags): GatewaySettings {
  const file: Record<string, unknown> = {};
  for (const [option, key] of Object.entries(GATEWAY_FLAGS)) file[key] = flags[option as SettingFlag];
  const appSettings: Record<string, unknown> = { env: flags.env };
  for (const [option, key] of Object.entries(APP_FLAGS)) {
    const value = flags[option as SettingFlag];
    appSettings[key] = typeof value === "string" && WHOLE_NUMBERS.has(key) && /^[0-9]+$/.test(value) ? Number(value) : value;
  }
  const apps: Record<string, unknown> = {};
  const routeOfApp = new Map<string, string>();
  for (const route of flags.route) {
    const { image, ...where } = parseRoute(route);
    const name = uniqueName(appNameOf(image), routeOfApp);
    routeOfApp.set(name, route);
    apps[name] = { ...appSettings, image, ...where };
  }
  file.apps = apps;
  return { ...settingsFrom(file, (problem) => flagOf(problem, routeOfApp)), insecure: false };
}

/** "/PREFIX=IMAGE" or "HOST/PREFIX=IMAGE"; the schema checks the parts. */
function parseRoute(route: string): { image: string; path: string; host?: string } {
  const equals = route.indexOf("=");
  const target = equals === -1 ? "" : route.slice(0, equals);
  const image = equals === -1 ? "" : route.slice(equals + 1);
  const slash = target.indexOf("/");
  if (slash === -1 || image === "") {
    throw usageError("usage", `--route ${JSON.stringify(route)} is not /PREFIX=IMAGE or HOST/PREFIX=IMAGE`, "e.g. --route /hello=hello:1, or --route hello.example.test/=hello:1 for every path of that host.");
  }
  return { image, path: target.slice(slash), ...(slash > 0 ? { host: target.slice(0, slash) } : {}) };
}

/** Where a problem of the flags came from: the --route that made the app, or the flag of the setting. */
function flagOf(problem: Problem, routeOfApp: Map<string, string>): string {
  const [top, name, key, envName] = problem.path.map(String);
  if (top !== "apps") return `--${top}`;
  if (key === "env") return `--env ${envName}`;
  const route = `--route ${routeOfApp.get(name ?? "") ?? ""}`;
  if (key === undefined) return route;
  if (key === "image" || key === "path" || key === "host") return `${route}: ${key}`;
  return `--${key}`;
}

/**
 * An app's name from its image reference: the last part of its name, without
 * tag, digest or archive extension (127.0.0.1:5000/team/hello:1 -> hello,
 * ./hello.tar -> hello), a digest alone by its first 12 hex digits.
 */
export function appNameOf(reference: string): string {
  let name = reference.replace(/@sha256:[0-9a-f]*$/i, "");
  if (/^sha256:/i.test(name)) name = name.slice("sha256:".length, "sha256:".length + 12);
  name = name.replace(/\/+$/, "");
  name = name.slice(name.lastIndexOf("/") + 1).replace(/\.(tar\.gz|tgz|tar)$/i, "").replace(/:[^:]*$/, "");
  name = name.toLowerCase().replace(/[^a-z0-9_.-]+/g, "-").replace(/^[^a-z0-9]+/, "").slice(0, 56);
  return name === "" ? "app" : name;
}

function uniqueName(name: string, taken: Map<string, string>): string {
  if (!taken.has(name)) return name;
  for (let number = 2; ; number++) if (!taken.has(`${name}-${number}`)) return `${name}-${number}`;
}
