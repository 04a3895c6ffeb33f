import { writeOut } from "../../util/log.js";
import { show } from "../../util/printable.js";
import type { CommandSpec } from "../command.js";

export const load: CommandSpec = {
  name: "load",
  summary: "add an image file to the store (verifying every blob it lacks), keeping its tag",
  define(command) {
    command.requiredOption("-i, --input <IMAGE.tar>", "image file to load").option("-t, --tag <NAME:TAG>", "tag it with this name instead of the file's own");
  },
  async run(options, _args, { config }) {
    const { Store } = await import("../../store/index.js");
    const { addImageArchive, normalizeTag } = await import("../../store/index.js");
    const store = await Store.open(config);
    const tag = options.tag ? normalizeTag(options.tag as string) : undefined;
    const loaded = await addImageArchive(store, options.input as string, { ...(tag ? { tag } : {}), keepArchiveTag: true });
    writeOut(`Loaded: ${loaded.tags.length > 0 ? `${loaded.tags.map(show).join(", ")} ` : ""}${loaded.digest}\n`);
  },
};
