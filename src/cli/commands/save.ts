import { writeErr } from "../../util/log.js";
import type { CommandSpec } from "../command.js";

export const save: CommandSpec = {
  name: "save",
  summary: "write a stored image to an image file (an OCI image archive)",
  define(command) {
    command.argument("<IMAGE>", "tag or digest of a stored image").requiredOption("-o, --output <IMAGE.tar>", "file to write");
  },
  async run(options, args, { config }) {
    const { Store } = await import("../../store/index.js");
    const { resolveRef, loadImage, tagsOf } = await import("../../store/index.js");
    const { saveImage } = await import("../../image/index.js");
    const { formatBytes } = await import("../../util/log.js");
    const path = await import("node:path");
    const { checkOutputFile } = await import("../../config/index.js");
    await checkOutputFile(config, path.resolve(options.output as string), "-o");
    const store = await Store.open(config);
    const digest = await resolveRef(store, args[0] ?? "");
    const image = await loadImage(store, digest);
    // The archive carries the tag it was asked for by, else the image's first tag, as docker save does.
    const tags = tagsOf(await store.readIndex(), digest);
    const asked = tags.find((tag) => tag === args[0] || tag === `${args[0]}:latest`);
    const size = await saveImage(image, path.resolve(options.output as string), asked ?? tags[0]);
    writeErr(`pypakr: wrote ${path.resolve(options.output as string)} (${formatBytes(size)}) ${digest}\n`);
  },
};
