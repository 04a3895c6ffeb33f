import { writeOut } from "../../util/log.js";
import { show } from "../../util/printable.js";
import { defineCommand } from "../command.js";
import { FLAGS, required, text } from "../options.js";

export const load = defineCommand("load", "add an image file to the store (verifying every blob it lacks), keeping its tag", {
  options: {
    input: required("-i, --input <IMAGE.tar>", "image file to load"),
    tag: text(FLAGS.tag, "tag it with this name instead of the file's own"),
  },
  async run(options, _args, { config }) {
    const { Store } = await import("../../store/index.js");
    const { addImageArchive, normalizeTag } = await import("../../store/index.js");
    const tag = options.tag ? normalizeTag(options.tag) : undefined;
    const loaded = await addImageArchive(await Store.open(config), options.input, { ...(tag ? { tag } : {}), keepArchiveTag: true });
    writeOut(`Loaded: ${loaded.tags.length > 0 ? `${loaded.tags.map(show).join(", ")} ` : ""}${loaded.digest}\n`);
  },
});
