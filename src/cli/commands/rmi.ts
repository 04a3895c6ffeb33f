import type { RemoveResult } from "../../store/index.js";
import { formatBytes, writeErr, writeOut } from "../../util/log.js";
import { count } from "../../util/plural.js";
import { show } from "../../util/printable.js";
import { defineCommand } from "../command.js";
import { flag } from "../options.js";

function print(result: RemoveResult): void {
  for (const tag of result.untagged) writeOut(`Untagged: ${show(tag)}\n`);
  for (const digest of result.deleted) writeOut(`Deleted: ${digest}\n`);
  if (result.untagged.length > 0 || result.deleted.length > 0) writeOut(`Freed ${formatBytes(result.freedBytes)}\n`);
  // As docker rmi: the last name of an image that containers use, or its digest, is left as it was.
  for (const { ref, containers } of result.refused) {
    const shown = containers.slice(0, 3).map(show).join(", ") + (containers.length > 3 ? ", ..." : "");
    writeErr(`pypakr: error: image ${show(ref)} is used by ${count(containers.length, "container")} (${shown}); nothing was removed for it\n`);
  }
  if (result.refused.length > 0) writeErr("pypakr: hint: Remove those containers first, or pass --force to remove the image anyway.\n");
}

export const rmi = defineCommand("rmi", "remove images from the store (by tag or digest) and free what nothing else needs", {
  options: { force: flag("-f, --force", "remove an image even if containers were made from it") },
  arguments: { "<IMAGE...>": "tags (name[:tag]) or digests (full or 12+ leading hex digits)" },
  async run(options, args, { config }) {
    const { Store } = await import("../../store/index.js");
    const { removeImagesByRef } = await import("../../store/index.js");
    const result = await removeImagesByRef(await Store.open(config), args, options.force);
    print(result);
    return result.refused.length > 0 ? 1 : 0;
  },
});
