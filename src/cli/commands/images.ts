import { defineCommand } from "../command.js";
import { json } from "../options.js";
import { report } from "../output.js";

export const images = defineCommand("images", "list the images in the store", {
  options: { json: json() },
  async run(options, _args, { config }) {
    const { Store } = await import("../../store/index.js");
    const { listImages, formatImageList } = await import("../../store/index.js");
    report(await listImages(await Store.open(config)), options, { text: formatImageList });
  },
});
