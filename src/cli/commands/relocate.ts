import { count } from "../../util/plural.js";
import { defineCommand } from "../command.js";
import { FLAGS, json, required } from "../options.js";
import { report } from "../output.js";

export const relocate = defineCommand("relocate", "rewrite a moved or copied container in place for its new path (what run asks for after mv or cp -a)", {
  options: { container: required(FLAGS.container, "container directory, where it is now"), json: json() },
  async run(options, _args, { config }) {
    const { relocateContainer } = await import("../../container/index.js");
    report(await relocateContainer(config, options.container), options, {
      text: ({ dir, from, files }) => (from === null ? `${dir} has not moved: it is where it was made; nothing to do\n` : `Relocated ${dir} (made at ${from}): ${count(files, "file")} rewritten\n`),
    });
  },
});
