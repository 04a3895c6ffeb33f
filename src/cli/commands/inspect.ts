import { writeJson, writeOut } from "../../util/log.js";
import type { CommandSpec } from "../command.js";

export const inspect: CommandSpec = {
  name: "inspect",
  summary: "show what an image holds and needs",
  define(command) {
    command.argument("<IMAGE>", "image file, or a stored image's tag or digest").option("--json", "print the manifest and config as JSON");
  },
  async run(options, args, { config }) {
    const { inspectImage, formatInspection } = await import("../../image/index.js");
    const { tmpDir } = await import("../../config/index.js");
    const { Store } = await import("../../store/index.js");
    const { imageArgument, loadImage, resolveRef } = await import("../../store/index.js");
    const fromStore = async (ref: string) => {
      const store = await Store.open(config);
      return loadImage(store, await resolveRef(store, ref, { fileToo: true }));
    };
    const arg = args[0] ?? "";
    const inspection = await inspectImage(arg, tmpDir(config), (await imageArgument(arg)) === "ref" ? fromStore : null);
    if (options.json) writeJson(inspection);
    else writeOut(formatInspection(inspection));
  },
};
