/** `pypakr hub`'s flags, read and checked: each wrong one is a usage error naming the flag and what it takes. */
import * as net from "node:net";
import * as path from "node:path";
import type { Config } from "../config/index.js";
import { usageError } from "../util/errors.js";

export interface HubSettings {
  /** The registry's URL as given ("http://127.0.0.1:5000", "https://registry.example", or a bare host). */
  registry: string;
  listen: { host: string; port: number };
  dataDir: string;
  private: boolean;
  /** null: no periodic reconcile (one still runs at start). */
  reconcileIntervalMs: number | null;
  insecure?: boolean;
  caFile?: string;
}

export interface HubFlags {
  registry: string;
  listen?: string | undefined;
  data?: string | undefined;
  private: boolean;
  reconcileInterval?: string | undefined;
  insecure: boolean;
  caFile?: string | undefined;
}

export const DEFAULT_LISTEN = "127.0.0.1:8080";
export const DEFAULT_RECONCILE_INTERVAL = "10m";
/** Shorter would have the hub walking a large registry all the time. */
const MIN_RECONCILE_MS = 10_000;
const MAX_RECONCILE_MS = 7 * 24 * 3_600_000;

export function hubSettings(config: Config, flags: HubFlags): HubSettings {
  if (flags.registry.trim() === "") throw usageError("usage", "--registry is empty", "Give the registry's URL, e.g. --registry http://127.0.0.1:5000.");
  return {
    registry: flags.registry.trim(),
    listen: readListen(flags.listen ?? DEFAULT_LISTEN),
    dataDir: path.resolve(flags.data ?? path.join(config.pypakrDir, "hub")),
    private: flags.private,
    reconcileIntervalMs: readInterval(flags.reconcileInterval ?? DEFAULT_RECONCILE_INTERVAL),
    ...(flags.insecure ? { insecure: true } : {}),
    ...(flags.caFile !== undefined ? { caFile: path.resolve(flags.caFile) } : {}),
  };
}

/** "HOST:PORT", an IPv6 address in brackets ("[::1]:8080"); port 0 asks the system for a free one. */
export function readListen(value: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(value);
  const plain = /^([A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(value);
  const host = bracketed?.[1] ?? plain?.[1];
  const port = Number((bracketed ?? plain)?.[2]);
  if (host === undefined || !(port <= 65535) || (bracketed && !net.isIPv6(host))) {
    throw usageError("usage", `--listen ${JSON.stringify(value)} is not HOST:PORT`, `Write it as ${DEFAULT_LISTEN}, or [::1]:8080 for IPv6 (port 0: any free port).`);
  }
  return { host: host.toLowerCase(), port };
}

/** "10m", "1h", "90s", or "off" (no periodic reconcile). */
export function readInterval(value: string): number | null {
  if (value === "off" || value === "0") return null;
  const match = /^([0-9]+(?:\.[0-9]+)?) *(s|m|h)?$/.exec(value.trim());
  const ms = match ? Math.round(Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? "s") as "s" | "m" | "h"]) : NaN;
  if (!(ms >= MIN_RECONCILE_MS && ms <= MAX_RECONCILE_MS)) {
    throw usageError("usage", `--reconcile-interval ${JSON.stringify(value)} is not a duration from 10s to 7 days`, `Write it as ${DEFAULT_RECONCILE_INTERVAL}, 1h, 90s, or off.`);
  }
  return ms;
}
