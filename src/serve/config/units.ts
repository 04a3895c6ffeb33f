/**
 * The value kinds of the gateway's settings, read the same way from a TOML or
 * YAML file and from the command line: each reader returns the value or an
 * Invalid saying what is wrong (the caller knows where it came from).
 */
import * as net from "node:net";

export class Invalid {
  constructor(readonly problem: string) {}
}

const MS_PER_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Node's timers overflow past 2^31-1 ms (about 24.8 days); a day is more than any of these settings needs. */
export const MAX_DURATION_MS = 24 * 3_600_000;

/** "500ms", "30s", "2m", "1h", or a number of seconds (30, 0.5, "30"): whole milliseconds from min to a day. */
export function readDuration(value: unknown, minMs: number): number | Invalid {
  const wanted = `must be a duration from ${minMs === 0 ? "0s" : `${minMs}ms`} to 24h such as "500ms", "30s", "2m" or a number of seconds`;
  let ms: number;
  if (typeof value === "number" && Number.isFinite(value)) ms = value * 1000;
  else if (typeof value === "string") {
    const match = /^([0-9]+(?:\.[0-9]+)?) *(ms|s|m|h)?$/.exec(value.trim());
    if (!match) return new Invalid(`${wanted}, not ${describeValue(value)}`);
    ms = Number(match[1]) * (MS_PER_UNIT[match[2] ?? "s"] ?? 1000);
  } else return new Invalid(`${wanted}, not ${describeValue(value)}`);
  ms = Math.round(ms);
  if (ms < minMs || ms > MAX_DURATION_MS) return new Invalid(`${wanted}, not ${describeValue(value)}`);
  return ms;
}

/**
 * K, M, G, T and KiB, MiB, GiB, TiB are powers of 1024 (as docker's
 * --memory 512m); KB, MB, GB, TB powers of 1000; B or no unit are bytes.
 */
const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

/** "512MiB", "256M", "1G", "10MB", or a number of bytes: whole bytes from min up. */
export function readSize(value: unknown, minBytes: number): number | Invalid {
  const wanted = `must be a size of at least ${minBytes === 0 ? "0" : formatSize(minBytes)} such as "512MiB", "256M", "1G" or a number of bytes`;
  let bytes: number;
  if (typeof value === "number" && Number.isFinite(value)) bytes = value;
  else if (typeof value === "string") {
    const match = /^([0-9]+(?:\.[0-9]+)?) *([a-z]*)$/i.exec(value.trim());
    const unit = SIZE_UNITS[(match?.[2] ?? "").toLowerCase()];
    if (!match || unit === undefined) return new Invalid(`${wanted}, not ${describeValue(value)}`);
    bytes = Number(match[1]) * unit;
  } else return new Invalid(`${wanted}, not ${describeValue(value)}`);
  bytes = Math.round(bytes);
  if (bytes < minBytes || !Number.isSafeInteger(bytes)) return new Invalid(`${wanted}, not ${describeValue(value)}`);
  return bytes;
}

function formatSize(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) if (bytes % size === 0) return `${bytes / size}${unit}`;
  return `${bytes} bytes`;
}

/** A whole number within bounds (a file's integer; flags arrive as digits and are turned into one first). */
export function readWholeNumber(value: unknown, min: number, max: number): number | Invalid {
  if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) return value;
  return new Invalid(`must be a whole number from ${min} to ${max}, not ${describeValue(value)}`);
}

export function readBoolean(value: unknown): boolean | Invalid {
  if (typeof value === "boolean") return value;
  return new Invalid(`must be true or false, not ${describeValue(value)}`);
}

/** A setting that may be switched off: "none" reads as undefined (no limit asked). */
export function orNone<T>(read: (value: unknown) => T | Invalid): (value: unknown) => T | undefined | Invalid {
  return (value) => (value === "none" ? undefined : read(value));
}

// The characters allowed in a route's path prefix and a health path: RFC 3986's path characters, no spaces or controls.
const PATH_CHARACTERS = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;

/** A route's path prefix: starts with "/", no "..", "//", "?" or "#"; a trailing "/" is dropped ("/hello/" is "/hello"). */
export function readPathPrefix(value: unknown): string | Invalid {
  if (typeof value !== "string" || !value.startsWith("/")) return new Invalid(`must be a path starting with "/", not ${describeValue(value)}`);
  for (const banned of ["..", "//", "?", "#"]) if (value.includes(banned)) return new Invalid(`must not hold "${banned}", as ${describeValue(value)} does`);
  if (!PATH_CHARACTERS.test(value)) return new Invalid(`must hold only URL path characters (no spaces or controls), not ${describeValue(value)}`);
  return value.length > 1 && value.endsWith("/") ? value.slice(0, -1) : value;
}

/** The path the gateway GETs to see that an instance is ready: a path (and query) on the app. */
export function readHealthPath(value: unknown): string | Invalid {
  if (typeof value !== "string" || !value.startsWith("/")) return new Invalid(`must be a path starting with "/", not ${describeValue(value)}`);
  if (!/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/.test(value)) return new Invalid(`must hold only URL path and query characters (no spaces, controls or "#"), not ${describeValue(value)}`);
  return value;
}

const HOST_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOSTNAME = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);

/** A host name as a request's Host names it, lowercased; without a port (the gateway matches the Host without it). */
export function readHostname(value: unknown): string | Invalid {
  if (typeof value !== "string") return new Invalid(`must be a host name such as "example.test", not ${describeValue(value)}`);
  const host = value.toLowerCase();
  if (/:[0-9]+$/.test(host) && HOSTNAME.test(host.replace(/:[0-9]+$/, ""))) return new Invalid(`must have no port (the Host is matched without it), not ${describeValue(value)}`);
  if (!HOSTNAME.test(host)) return new Invalid(`must be a host name such as "example.test" (letters, digits, "-" and "."), not ${describeValue(value)}`);
  return host;
}

/** "HOST:PORT", with an IPv6 address in brackets ("[::1]:8080"); port 0 asks the system for a free one. */
export function readListen(value: unknown): { host: string; port: number } | Invalid {
  const wanted = `must be HOST:PORT such as "127.0.0.1:8080" or "[::1]:8080"`;
  if (typeof value !== "string") return new Invalid(`${wanted}, not ${describeValue(value)}`);
  const bracketed = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(value);
  const plain = /^([^:[\]]+):([0-9]{1,5})$/.exec(value);
  const host = bracketed ? bracketed[1] : plain?.[1];
  const port = Number((bracketed ?? plain)?.[2]);
  if (host === undefined || !(port <= 65535)) return new Invalid(`${wanted}, not ${describeValue(value)}`);
  const badName = readHostname(host) instanceof Invalid || /^[0-9.]+$/.test(host);
  if (bracketed ? !net.isIPv6(host) : !net.isIPv4(host) && badName) return new Invalid(`${wanted}: ${describeValue(host)} is not an ${bracketed ? "IPv6 address" : "IPv4 address or host name"}`);
  return { host: bracketed ? host : host.toLowerCase(), port };
}

/** A value as a message shows it: strings quoted (so spaces and controls show), other scalars as written. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return "a date";
  return typeof value === "object" ? "a table" : typeof value;
}
