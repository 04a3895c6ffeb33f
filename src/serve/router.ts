/**
 * Which app a request is for: apps with a Host come before those without,
 * then the longest path prefix wins. A prefix matches its own path and what
 * lies below it ("/hello" takes /hello, /hello/ and /hello/x, not /helloworld).
 */
import type { AppSettings } from "./types.js";

export class Router<App extends { settings: AppSettings }> {
  private readonly ordered: App[];

  constructor(apps: App[]) {
    this.ordered = [...apps].sort((a, b) => rank(b.settings) - rank(a.settings));
  }

  match(hostHeader: string | undefined, pathname: string): App | null {
    const host = hostOnly(hostHeader);
    for (const app of this.ordered) {
      const { host: wanted, path } = app.settings;
      if (wanted !== undefined && wanted !== host) continue;
      if (path !== undefined && !underPrefix(pathname, path)) continue;
      return app;
    }
    return null;
  }
}

/** The request path with the app's prefix taken off (always starting with "/"), for apps that ask for it. */
export function stripPrefix(url: string, prefix: string): string {
  if (prefix === "/") return url;
  const rest = url.slice(prefix.length);
  return rest.startsWith("/") ? rest : `/${rest}`;
}

function underPrefix(pathname: string, prefix: string): boolean {
  if (prefix === "/") return true;
  return pathname === prefix || (pathname.startsWith(prefix) && pathname[prefix.length] === "/");
}

function rank(settings: AppSettings): number {
  return (settings.host !== undefined ? 1_000_000 : 0) + (settings.path?.length ?? 0);
}

/** The Host header's name, lower-cased, without a port (IPv6 literals keep their brackets). */
function hostOnly(header: string | undefined): string {
  if (header === undefined) return "";
  const lower = header.trim().toLowerCase();
  if (lower.startsWith("[")) return lower.slice(0, lower.indexOf("]") + 1);
  const colon = lower.indexOf(":");
  return colon === -1 ? lower : lower.slice(0, colon);
}
