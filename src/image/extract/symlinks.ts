/**
 * Symlinks an untrusted tree may hold: judged first on their text, then,
 * once every entry is in place, on where they really lead through the
 * links the tree holds (as the kernel would follow them).
 */
import * as path from "node:path";
import { PypakrError, type ErrorCode } from "../../util/errors.js";

/**
 * Where the relative link text `link` of a symlink at `relative` leads, as
 * a normalized path in the tree ("." for the tree itself), or null when it
 * climbs out of the tree. Judges the text alone; an absolute text is the
 * caller's to refuse or allow.
 */
export function linkDestination(relative: string, link: string): string | null {
  // normalize keeps a trailing slash ("./a/" -> "a/"), which would hide "itself" and "the target itself".
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(relative), link)).replace(/(.)\/+$/, "$1");
  return resolved === ".." || resolved.startsWith("../") ? null : resolved;
}

/**
 * Why a symlink at `relative` with text `link` may not be made, or null. An
 * absolute target is refused unless `allowAbsolute` (a base's own links to
 * its interpreter, which pypakr init made).
 */
export function symlinkProblem(relative: string, link: string, allowAbsolute = false): string | null {
  return symlinkFault(relative, link, allowAbsolute)?.problem ?? null;
}

/**
 * symlinkProblem with its kind: a link that leaves the tree (absolute, or up
 * through ..) has its own code, since a tar of a source holding a venv
 * carries such links and create-image says how to leave them out.
 */
export function symlinkFault(relative: string, link: string, allowAbsolute = false): { problem: string; code: ErrorCode } | null {
  if (link === "" || link.includes("\0")) return { problem: "is a symlink with an empty or NUL-holding target", code: "unsafe-entry" };
  if (path.posix.isAbsolute(link)) return allowAbsolute ? null : { problem: `is a symlink to the absolute path "${link}"`, code: "link-leaves-tree" };
  const resolved = linkDestination(relative, link);
  if (resolved === null) return { problem: `is a symlink to "${link}", outside the target`, code: "link-leaves-tree" };
  if (resolved === "." || resolved === relative) return { problem: `is a symlink to "${link}", which resolves to ${resolved === "." ? "the target itself" : "itself"}`, code: "unsafe-entry" };
  return null;
}

/** A tree's symlinks as the final check reads them: a path's link text, or null when it is no symlink. */
export type ReadLink = (relative: string) => Promise<string | null>;

/**
 * Where the symlink `link` really leads, following the links the tree now
 * holds: "inside", "escapes", or "trusted" when it reaches a base link to
 * an absolute path (the venv's own `bin/python` -> interpreter). Judging a
 * link on its text alone is not enough: `y -> a/up/../../x` reads as `a/x`,
 * but leaves the tree when `a/up` is a link to `..`.
 */
export async function whereLinkLeads(link: string, readLink: ReadLink, madeByArchive: ReadonlySet<string>): Promise<"inside" | "escapes" | "trusted"> {
  let budget = 40; // the kernel's own limit on links in one lookup
  // `climbsAfter`: a `..` follows in an enclosing walk; past an absolute base link it would leave for the host's tree.
  const walk = async (start: string[], target: string, climbsAfter: boolean): Promise<string[] | "escapes" | "trusted"> => {
    const stack = [...start];
    const parts = target.split("/");
    for (const [index, part] of parts.entries()) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (stack.length === 0) return "escapes";
        stack.pop();
        continue;
      }
      stack.push(part);
      const current = stack.join("/");
      const next = await readLink(current);
      if (next === null) continue;
      if (--budget < 0) return "escapes";
      const climbs = climbsAfter || parts.slice(index + 1).includes("..");
      // A base's own absolute link (bin/python -> the interpreter) is trusted as far as it goes, but
      // `lib64/../x` through one to a directory outside climbs into the host's tree.
      if (path.posix.isAbsolute(next)) return madeByArchive.has(current) || climbs ? "escapes" : "trusted";
      stack.pop();
      const resolved = await walk(stack, next, climbs);
      if (!Array.isArray(resolved)) return resolved;
      stack.splice(0, stack.length, ...resolved);
    }
    return stack;
  };
  const parent = path.posix.dirname(link);
  const text = await readLink(link);
  if (text === null) return "inside";
  const resolved = await walk(parent === "." ? [] : parent.split("/"), text, false);
  if (Array.isArray(resolved)) return resolved.length === 0 ? "escapes" : "inside";
  return resolved;
}

export function escapingLinkError(what: string, link: string): PypakrError {
  return new PypakrError(`${what}: the symlink "${link}" leads outside the target (or to the target itself) through other links; refusing it`, {
    code: "unsafe-entry",
    hint: "The archive is damaged or was crafted to point outside its target; get it from a trusted source.",
  });
}
