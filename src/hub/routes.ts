/**
 * Reading a request's path as one of the hub's routes. Pages live under
 * /r/<repository>/-/..., their JSON twins under /api/repositories/<repository>/...
 * Each path segment is percent-decoded on its own; names and tags are held
 * to the distribution grammar before anything uses them, so a route names
 * only what a registry could hold.
 */
import { isRepositoryName, isTag } from "../image/index.js";

export type Route =
  | { name: "home" }
  | { name: "search" }
  | { name: "recent" }
  | { name: "repositories" }
  | { name: "repository"; repository: string }
  | { name: "description"; repository: string }
  | { name: "diff"; repository: string }
  | { name: "tag" | "sbom" | "pylock" | "delete"; repository: string; tag: string };

function decode(segments: string[]): string[] | null {
  try {
    return segments.map((segment) => decodeURIComponent(segment));
  } catch {
    return null;
  }
}

function repositoryOf(segments: string[]): string | null {
  const decoded = decode(segments);
  if (decoded === null) return null;
  const name = decoded.join("/");
  return isRepositoryName(name) ? name : null;
}

function tagOf(segment: string | undefined): string | null {
  if (segment === undefined) return null;
  const decoded = decode([segment]);
  const tag = decoded?.[0];
  return tag !== undefined && isTag(tag) ? tag : null;
}

/** What follows the "/-/" separator (pages, and the API's unambiguous form). */
function action(repository: string, rest: string[]): Route | null {
  const [kind, tagSegment, file, ...extra] = rest;
  if (kind === "diff" && rest.length === 1) return { name: "diff", repository };
  if (kind === "description" && rest.length === 1) return { name: "description", repository };
  if (kind !== "tags" || extra.length > 0) return null;
  const tag = tagOf(tagSegment);
  if (tag === null) return null;
  if (file === undefined) return { name: "tag", repository, tag };
  if (file === "sbom.cdx.json") return { name: "sbom", repository, tag };
  if (file === "pylock.toml") return { name: "pylock", repository, tag };
  if (file === "delete") return { name: "delete", repository, tag };
  return null;
}

function splitAtSeparator(segments: string[]): { repository: string | null; rest: string[] } {
  const at = segments.indexOf("-");
  if (at < 0) return { repository: repositoryOf(segments), rest: [] };
  return { repository: repositoryOf(segments.slice(0, at)), rest: segments.slice(at + 1) };
}

/** A page's route ("/r/team/jokes/-/tags/1"), or null. */
export function pageRoute(pathname: string): Route | null {
  if (pathname === "/") return { name: "home" };
  if (pathname === "/search") return { name: "search" };
  if (!pathname.startsWith("/r/")) return null;
  const { repository, rest } = splitAtSeparator(pathname.slice(3).split("/"));
  if (repository === null) return null;
  return rest.length === 0 ? { name: "repository", repository } : action(repository, rest);
}

/**
 * An API route, or null. `/api/repositories/<repo>/tags/<tag>` and
 * `/api/repositories/<repo>/diff` read as a tag and a diff unless the whole
 * path is itself a repository the hub knows (a repository may be called
 * team/tags/x); the "/-/" form (`/api/repositories/<repo>/-/tags/<tag>`) is
 * never ambiguous.
 */
export function apiRoute(pathname: string, knownRepository: (name: string) => boolean): Route | null {
  if (pathname === "/api/recent") return { name: "recent" };
  if (pathname === "/api/search") return { name: "search" };
  if (pathname === "/api/repositories") return { name: "repositories" };
  if (!pathname.startsWith("/api/repositories/")) return null;
  const segments = pathname.slice("/api/repositories/".length).split("/");
  if (segments.includes("-")) {
    const { repository, rest } = splitAtSeparator(segments);
    if (repository === null || rest.length === 0) return null;
    return action(repository, rest);
  }
  const whole = repositoryOf(segments);
  if (whole !== null && knownRepository(whole)) return { name: "repository", repository: whole };
  const last = segments.at(-1);
  if (segments.length >= 2 && (last === "diff" || last === "description")) {
    const repository = repositoryOf(segments.slice(0, -1));
    if (repository !== null) return { name: last, repository };
  }
  if (segments.length >= 3 && segments.at(-2) === "tags") {
    const repository = repositoryOf(segments.slice(0, -2));
    const tag = tagOf(last);
    if (repository !== null && tag !== null) return { name: "tag", repository, tag };
  }
  return whole !== null ? { name: "repository", repository: whole } : null;
}
