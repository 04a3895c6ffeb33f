import { formatBytes, progress } from "../../util/log.js";
import { show } from "../../util/printable.js";
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
    ...registryOptions(),
    json: json(),
  },
  arguments: { "<IMAGE>": "image file, a stored image's tag or digest, or a registry reference (pulled when missing)" },
  async run(options, args, { config }) {
    const { exportImage, DEFAULT_VENV } = await import("../../export/index.js");
    const { parseCompression } = await import("../../image/index.js");
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
