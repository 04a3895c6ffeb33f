/**
 * Two tags of a repository compared by what they install: distributions
 * matched by their PEP 503 names (so Flask_Login and flask-login are one), a
 * changed version called an upgrade or a downgrade by PEP 440 order.
 */
import type { IndexedTag, TagDiff } from "./types.js";
import { compareVersions, normalizedName } from "./versions.js";

interface Installed {
  name: string;
  version: string;
}

/** Normalized name → the distribution; a name listed twice counts once (the first, as pip would have kept one). */
function installed(tag: IndexedTag): Map<string, Installed> {
  const byName = new Map<string, Installed>();
  for (const layer of tag.layers) {
    const distribution = layer.distribution;
    if (distribution === undefined) continue;
    const key = normalizedName(distribution.name);
    if (!byName.has(key)) byName.set(key, { name: distribution.name, version: distribution.version });
  }
  return byName;
}

function direction(from: string, to: string): "upgraded" | "downgraded" | "changed" {
  const order = compareVersions(from, to);
  if (order === -1) return "upgraded";
  if (order === 1) return "downgraded";
  // Not PEP 440 versions, or equal by PEP 440 though written differently (1.0 and 1.0.0).
  return "changed";
}

export function diffTags(from: IndexedTag, to: IndexedTag): TagDiff {
  const before = installed(from);
  const after = installed(to);
  const diff: TagDiff = { repository: to.repository, from: from.tag, to: to.tag, added: [], removed: [], changed: [], unchanged: [] };
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const name of names) {
    const old = before.get(name);
    const now = after.get(name);
    if (old === undefined && now !== undefined) diff.added.push({ name: now.name, version: now.version });
    else if (old !== undefined && now === undefined) diff.removed.push({ name: old.name, version: old.version });
    else if (old !== undefined && now !== undefined) {
      if (old.version === now.version) diff.unchanged.push({ name: now.name, version: now.version });
      else diff.changed.push({ name: now.name, from: old.version, to: now.version, direction: direction(old.version, now.version) });
    }
  }
  return diff;
}
