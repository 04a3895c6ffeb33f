import { writeErr, writeOut } from "../../util/log.js";
import { count } from "../../util/plural.js";
import { show } from "../../util/printable.js";
import type { CommandSpec } from "../command.js";

export const rmi: CommandSpec = {
  name: "rmi",
  summary: "remove images from the store (by tag or digest) and free what nothing else needs",
  define(command) {
    command.argument("<IMAGE...>", "tags (name[:tag]) or digests (full or 12+ leading hex digits)").option("-f, --force", "remove an image even if containers were made from it");
  },
  async run(options, args, { config }) {
    const { Store } = await import("../../store/index.js");
    const { resolveRef, normalizeTag } = await import("../../store/index.js");
    const { removeImages } = await import("../../store/index.js");
    const { looksLikeDigest } = await import("../../image/index.js");
    const { formatBytes } = await import("../../util/log.js");
    const store = await Store.open(config);
    const index = await store.readIndex();
    const targets = [];
    for (const ref of args) {
      const tag = looksLikeDigest(ref) ? null : normalizeTag(ref);
      targets.push({ ref: tag ?? ref, digest: await resolveRef(store, ref), isTag: tag !== null && tag in index.tags });
    }
    const result = await removeImages(store, targets, Boolean(options.force));
    for (const tag of result.untagged) writeOut(`Untagged: ${show(tag)}\n`);
    for (const digest of result.deleted) writeOut(`Deleted: ${digest}\n`);
    if (result.untagged.length > 0 || result.deleted.length > 0) writeOut(`Freed ${formatBytes(result.freedBytes)}\n`);
    // As docker rmi: the last name of an image that containers use, or its digest, is left as it was.
    for (const { ref, containers } of result.refused) {
      const shown = containers.slice(0, 3).map(show).join(", ") + (containers.length > 3 ? ", ..." : "");
      writeErr(`pypakr: error: image ${show(ref)} is used by ${count(containers.length, "container")} (${shown}); nothing was removed for it\n`);
    }
    if (result.refused.length > 0) writeErr("pypakr: hint: Remove those containers first, or pass --force to remove the image anyway.\n");
    return result.refused.length > 0 ? 1 : 0;
  },
};
