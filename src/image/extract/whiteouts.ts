/**
 * OCI whiteouts (`.wh.NAME` deletes NAME, `.wh..wh..opq` hides what lower
 * layers hold in its directory). A layer is unpacked alone, so they are
 * only recorded in its listing; assembly (src/base/assemble.ts) applies
 * them to lower layers (a runtime image's root filesystem, unpacked layer
 * upon layer, has them applied as it goes). A source archive may hold none: there a `.wh.`
 * name would mean a deletion once it is in an image.
 */
import type { TarHeader } from "../../util/tar.js";
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from "../layer-writer.js";
import type { EntryFailure } from "./entry-rules.js";

/** A whiteout entry at `relative`, and the path it deletes (or makes opaque). */
export type WhiteoutEntry = { kind: "whiteout" | "opaque"; relative: string; victim: string };

/**
 * "record" them (an image layer), "refuse" `.wh.` names (a source), or
 * "apply" them to what the tree holds from earlier archives (a runtime's
 * root filesystem, unpacked layer upon layer).
 */
export type WhiteoutMode = "record" | "refuse" | "apply";

/**
 * The whiteout an entry named `.wh.*` stands for, once it passed the rules:
 * an empty regular file naming a real entry, never the tree itself nor one
 * of pypakr's own names. Null when the entry is no whiteout.
 */
export function whiteoutEntry(relative: string, header: TarHeader, mode: WhiteoutMode, reserved: ReadonlySet<string> | undefined, fail: EntryFailure): WhiteoutEntry | null {
  const slash = relative.lastIndexOf("/");
  const base = relative.slice(slash + 1);
  if (!base.startsWith(WHITEOUT_PREFIX)) return null;
  if (mode === "refuse") throw fail(relative, "is named like an OCI whiteout (.wh.*), which would delete files in an image; rename it");
  if (header.type !== "file" || (header.size ?? 0) !== 0) throw fail(relative, "is a whiteout that is not an empty regular file");
  const dir = slash < 0 ? "" : relative.slice(0, slash);
  if (base === OPAQUE_WHITEOUT) {
    if (dir === "") throw fail(relative, "makes the whole tree opaque");
    return { kind: "opaque", relative, victim: dir };
  }
  const victimName = base.slice(WHITEOUT_PREFIX.length);
  if (victimName === "" || victimName === "." || victimName === ".." || victimName.startsWith(WHITEOUT_PREFIX)) throw fail(relative, "is a whiteout that names no file");
  // `.wh..pypakr` would delete the container's own metadata as surely as writing into it would overwrite it.
  if (reserved?.has(victimName)) throw fail(relative, `is a whiteout of "${victimName}", which is pypakr's own`);
  return { kind: "whiteout", relative, victim: dir ? `${dir}/${victimName}` : victimName };
}
