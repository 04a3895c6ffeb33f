import * as path from "node:path";
import { ownPathProblem } from "../../config/index.js";
import { PypakrError } from "../../util/errors.js";
import { lstatOrNull, writeFileAtomic } from "../../util/fs.js";
import { progress, writeOut } from "../../util/log.js";
import { defineCommand } from "../command.js";
import { choice, connection, FLAGS, registryOptions, text } from "../options.js";

export const sbom = defineCommand("sbom", "write an image's SBOM (CycloneDX JSON) or lock file (PEP 751 pylock.toml)", {
  options: {
    format: choice("--format <FORMAT>", "cyclonedx (a CycloneDX 1.6 JSON SBOM) or pylock (a PEP 751 pylock.toml)", ["cyclonedx", "pylock"], "cyclonedx"),
    output: text(FLAGS.outputFile, "write the SBOM or lock file to this file instead of stdout (replaced whole, or left as it was on failure)"),
    ...registryOptions(),
  },
  arguments: { "<IMAGE>": "image file, a stored image's tag or digest, or a registry reference (HOST[:PORT]/REPO[:TAG|@DIGEST], pulled when missing)" },
  async run(options, args, { config }) {
    const arg = args[0] ?? "";
    const output = options.output === undefined ? undefined : path.resolve(options.output);
    // Checked first, so a wrong -o fails before an image is pulled or read.
    if (output !== undefined) await checkTarget(output, options.output ?? "", await ownPathProblem(config, output));
    const { imageArgument } = await import("../../store/index.js");
    const { sbomInputOfArgument, cycloneDxDocument, pylockDocument } = await import("../../sbom/index.js");
    let input;
    if ((await imageArgument(arg)) === "file") input = await sbomInputOfArgument(config, arg, { file: true });
    else {
      const { ensureLocalImage, looksLikeRegistryReference } = await import("../../registry/index.js");
      // A registry reference the store lacks is pulled first, as create-container and run do; the documents name the image by it.
      const local = looksLikeRegistryReference(arg) ? await ensureLocalImage(config, arg, connection(options)) : null;
      input = await sbomInputOfArgument(config, local?.digest ?? arg, { file: false, ...(local ? { reference: arg } : {}) });
    }
    const document = options.format === "pylock" ? pylockDocument(input) : `${JSON.stringify(cycloneDxDocument(input), null, 2)}\n`;
    if (output === undefined) return writeOut(document);
    await writeFileAtomic(output, document);
    progress(`wrote ${options.output} (${options.format === "pylock" ? "PEP 751 pylock.toml" : "CycloneDX 1.6 JSON"}, ${input.components.length} distributions)`);
  },
});

async function checkTarget(file: string, given: string, own: string | null): Promise<void> {
  if (own) throw new PypakrError(`cannot write ${given}: it ${own}, which pypakr never replaces or writes into`, { code: "own-path", hint: "Write the document elsewhere, e.g. -o ./sbom.cdx.json" });
  const dir = await lstatOrNull(path.dirname(file));
  if (!dir?.isDirectory()) throw new PypakrError(`cannot write ${given}: its directory ${path.dirname(file)} does not exist`, { code: "target-unusable", hint: "Create the directory first, or pass a path in an existing one." });
  if ((await lstatOrNull(file))?.isDirectory()) throw new PypakrError(`cannot write ${given}: it is a directory`, { code: "target-unusable", hint: "Pass a file name, e.g. -o ./sbom.cdx.json" });
}
