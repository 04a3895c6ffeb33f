import { writeJson, writeOut } from "../../util/log.js";
import type { CommandSpec } from "../command.js";

export const images: CommandSpec = {
  name: "images",
  summary: "list the images in the store",
  define(command) {
    command.option("--json", "print the list as JSON");
  },
  async run(options, _args, { config }) {
    const { listImages, formatImageList } = await import("../../store/index.js");
    const { Store } = await import("../../store/index.js");
    const list = await listImages(await Store.open(config));
    if (options.json) writeJson(list);
    else writeOut(formatImageList(list));
  },
};
