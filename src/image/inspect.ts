import { count } from "../util/plural.js";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describeInterpreter, interpreterKind } from "../python/index.js";
import { withTempPath } from "../util/fs.js";
import { formatBytes } from "../util/log.js";
import { show, showWord } from "../util/printable.js";
import type { ImageConfig, ImageManifest } from "./format.js";
import { readImageArchive, type Image } from "./reader.js";

export interface Inspection {
  file: string;
  digest: string;
  tag: string | null;
  needs: { python: string; kind: string; base: ImageConfig["pypakr"]["base"] };
  created: string;
  entrypoint: string[];
  environment: Record<string, string>;
  layers: { digest: string; size: number; holds: string }[];
  distributions: ImageConfig["pypakr"]["distributions"];
  relocatedFiles: number;
  manifest: ImageManifest;
  config: ImageConfig;
}

/** Inspects an image file (read into `tmp` and verified there) or, via `fromStore`, a stored image. */
export async function inspectImage(file: string, tmp: string, fromStore: ((ref: string) => Promise<Image>) | null): Promise<Inspection> {
  if (fromStore) return describeImage(await fromStore(file), file);
  await fs.mkdir(tmp, { recursive: true });
  return withTempPath(path.join(tmp, "image"), "blobs", async (dir) => {
    await fs.mkdir(dir);
    return describeImage(await readImageArchive(file, dir), path.resolve(file));
  });
}

function describeImage(image: Image, name: string): Inspection {
  const { pypakr } = image.config;
  const byLayer = new Map(pypakr.distributions.map((distribution) => [distribution.layer, `${distribution.name} ${distribution.version}`]));
  return {
    file: name,
    digest: image.manifestDigest,
    tag: image.tag ?? null,
    needs: { python: describeInterpreter(pypakr.python), kind: interpreterKind(pypakr.python), base: pypakr.base },
    created: pypakr.created,
    entrypoint: pypakr.entrypoint,
    environment: pypakr.environment,
    layers: image.manifest.layers.map((layer) => ({ digest: layer.digest, size: layer.size, holds: byLayer.get(layer.digest) ?? "app files and other changes" })),
    distributions: pypakr.distributions,
    relocatedFiles: pypakr.relocation.files.length,
    manifest: image.manifest,
    config: image.config,
  };
}

/**
 * The text `pypakr inspect` prints. Every value that came from the image (tag,
 * interpreter, entry point, environment, distributions) goes through `show`
 * or `showWord`, so one that holds a line break or a control is shown quoted
 * and can neither end its line nor pass for another.
 */
export function formatInspection(inspection: Inspection): string {
  const total = inspection.layers.reduce((sum, layer) => sum + layer.size, 0);
  const lines = [
    `Image:        ${show(inspection.file)}`,
    `Digest:       ${inspection.digest}`,
    ...(inspection.tag ? [`Tag:          ${show(inspection.tag)}`] : []),
    `Created:      ${show(inspection.created)}`,
    `Needs:        base ${show(inspection.needs.kind)}, any patch release (built with ${show(inspection.needs.python)})`,
    `Built on:     base ${show(inspection.needs.base.kind)} ${inspection.needs.base.manifestDigest.slice(0, 19)}`,
    `Entry point:  ${inspection.entrypoint.length > 0 ? inspection.entrypoint.map(showWord).join(" ") : "(none; pypakr run needs -r or a command)"}`,
    ...Object.entries(inspection.environment).map(([key, value], index) => `${index === 0 ? "Environment:  " : "              "}${show(key)}=${show(value)}`),
    `Relocated:    ${count(inspection.relocatedFiles, "file")} name${inspection.relocatedFiles === 1 ? "s" : ""} the container's path`,
    `Layers:       ${inspection.layers.length} (${formatBytes(total)})`,
    ...inspection.layers.map((layer) => `  ${layer.digest.slice(7, 19)}  ${formatBytes(layer.size).padStart(9)}  ${show(layer.holds)}`),
  ];
  if (inspection.distributions.length > 0) {
    lines.push(`Distributions: ${inspection.distributions.length}`);
    for (const distribution of inspection.distributions) lines.push(`  ${show(distribution.name)} ${show(distribution.version)}  [${distribution.wheelTags.map(show).join(", ") || "no wheel tags"}]`);
  }
  return lines.join("\n") + "\n";
}
