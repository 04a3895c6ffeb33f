import * as path from "node:path";
import { checkOutputFile } from "../../config/index.js";
import { usageError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import { formatBytes, progress } from "../../util/log.js";
import { shellWord, show } from "../../util/printable.js";
import { defineCommand } from "../command.js";
import { choice, connection, FLAGS, json, registryOptions, required, text } from "../options.js";
import { report } from "../output.js";

export const exportCommand = defineCommand("export", "make an ordinary container image (Docker, podman, Kubernetes, Knative) of an image on a Python runtime image", {
  options: {
    runtime: required("--runtime <RUNTIME>", "the image that provides the interpreter: a registry reference (HOST[:PORT]/REPO[:TAG|@DIGEST], e.g. docker.io/library/python:3.11-slim) or oci-archive:PATH[:REF]; its Python must match the image's"),
    output: text(FLAGS.output, "write the exported image to this file"),
    format: choice("--format <FORMAT>", "the file's form: oci-archive (skopeo, podman load, crane) or docker-archive (docker load)", ["oci-archive", "docker-archive"], "oci-archive"),
    push: text("--push <HOST/REPO:TAG>", "push the exported image to a registry"),
    venv: text("--venv <PATH>", "where the venv goes inside the image (default /app/venv)"),
    compression: text("--compression <HOW>", "how the added layers are compressed: gzip (default, what every engine reads), gzip:LEVEL, zstd or zstd:LEVEL"),
    source: text("--source <URL>", "the org.opencontainers.image.source annotation (e.g. your repository's URL)"),
    knative: text("--knative <FILE>", "also write a Knative Service manifest for the pushed image (by digest) to FILE; needs --push"),
    serveConfig: text("--serve-config <FILE>", "take the Knative settings (concurrency, min/max instances, env, memory, ...) from this pypakr serve config"),
    app: text("--app <NAME>", "the app of --serve-config to take them from (needed when it has several); also the Knative service's name"),
    ...registryOptions(),
    json: json(),
  },
  arguments: { "<IMAGE>": "image file, a stored image's tag or digest, or a registry reference (pulled when missing)" },
  async run(options, args, { config }) {
    const { exportImage, DEFAULT_VENV } = await import("../../export/index.js");
    const { parseCompression } = await import("../../image/index.js");
    if (options.knative && !options.push) throw usageError("usage", "--knative needs --push: a cluster pulls the image from a registry, by digest", "Add --push HOST/REPO:TAG (a registry the cluster can reach).");
    if ((options.serveConfig || options.app) && !options.knative) throw usageError("usage", "--serve-config and --app only feed --knative", "Add --knative FILE, or leave them out.");
    // Read before the export's work, so a wrong file or app name fails first.
    const app = options.serveConfig ? await (await import("../../serve/index.js")).loadAppSettings(options.serveConfig, options.app) : undefined;
    if (options.knative) await checkOutputFile(config, path.resolve(options.knative), "--knative");
    const started = performance.now();
    const result = await exportImage(config, {
      image: args[0] ?? "",
      runtime: options.runtime,
      format: options.format,
      venv: options.venv ?? DEFAULT_VENV,
      compression: parseCompression(options.compression ?? "gzip"),
      ...(options.output ? { output: options.output } : {}),
      ...(options.push ? { push: options.push } : {}),
      ...(options.source ? { source: options.source } : {}),
      ...connection(options),
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (options.knative && result.pushed) {
      const { knativeService } = await import("../../export/index.js");
      const name = options.app ?? app?.name ?? result.pushed.byDigest.split("@")[0]?.split("/").pop() ?? "app";
      await writeFileAtomic(path.resolve(options.knative), knativeService({ name, image: result.pushed.byDigest, ...(app ? { app } : {}) }));
      progress(`wrote the Knative Service ${options.knative}: kubectl apply -f ${shellWord(options.knative)}`);
    }
    progress(`${result.runtimeLayers} runtime layers (${formatBytes(result.runtimeBytes)}) + ${result.addedLayers.length} added (${formatBytes(result.addedBytes)}) in ${seconds} s`);
    report(result, options, {
      json: (done) => ({
        digest: done.digest,
        runtime: { source: done.runtime.source, digest: done.runtime.digest, python: done.runtime.python.version, executable: done.runtime.python.executable },
        layers: { runtime: done.runtimeLayers, added: done.addedLayers.length, runtimeBytes: done.runtimeBytes, addedBytes: done.addedBytes },
        ...(done.output ? { output: done.output } : {}),
        ...(done.pushed ? { pushed: done.pushed } : {}),
      }),
      text: (done) => [done.output ? `Wrote ${show(done.output.file)} (${formatBytes(done.output.size)}) ${done.digest}\n` : "", done.pushed ? `Pushed ${show(done.pushed.reference)} ${done.pushed.digest}\n` : ""].join(""),
    });
  },
});
