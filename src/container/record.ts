import * as fs from "node:fs/promises";
import { containerRecordFile } from "../layout/index.js";
import * as z from "zod";
import { baseNeedSchema, pypakrConfigSchema, unsafePrefixReason } from "../image/index.js";
import { pythonSchema } from "../python/index.js";
import { SHA256_DIGEST } from "../util/hash.js";
import { isErrno, PypakrError } from "../util/errors.js";
import { readJson } from "../util/json.js";

/**
 * What a container knows about itself: `.pypakr/container.json`. Checked
 * against a schema when read: a container directory may come from elsewhere
 * (copied, unpacked from an archive), and its record names a store digest,
 * a base directory and what `run` executes.
 */
/** A string that `problemOf` finds nothing wrong with; the problem it finds is the message. */
function stringWithout(problemOf: (value: string) => string | null) {
  return z.string().refine((value) => problemOf(value) === null, { error: (issue) => problemOf(String(issue.input)) ?? undefined });
}

const madeAtSchema = stringWithout((dir) => (!dir.startsWith("/") ? "is not an absolute path" : (unsafePrefixReason(dir) ?? (dir.split("/").includes("..") ? "climbs with .." : null))));

/** A directory's name as venv's activate scripts show it: what create-container takes from a checked path. */
const promptSchema = stringWithout((prompt) => (prompt.includes("/") ? "holds a /" : unsafePrefixReason(prompt)));

const containerRecordSchema = z.object({
  formatVersion: z.literal(1),
  image: z.object({ digest: z.string().regex(SHA256_DIGEST, "must be a sha256 digest"), source: z.string(), tag: z.string().optional() }),
  // A container made before format 2 of the image config records the kind as `id`, like its image.
  base: z.intersection(baseNeedSchema, z.object({ dir: z.string() })),
  python: pythonSchema,
  entrypoint: pypakrConfigSchema.shape.entrypoint,
  environment: pypakrConfigSchema.shape.environment,
  /**
   * The path the container was made for, which its relocated files name
   * (absent in containers made before pypakr recorded it: those cannot be
   * checked or relocated). run refuses the container elsewhere; relocate
   * rewrites it for where it is. A copied container's record is somebody
   * else's text, and this path is substituted in files and printed: it is
   * held to what create-container accepts as a container path.
   */
  dir: madeAtSchema.optional(),
  /** The activate scripts' prompt (the directory's name at creation), which relocate keeps. */
  prompt: promptSchema.optional(),
  /** How files were placed (see LinkMode): hardlink means edits in place reach the store. */
  link: z.string().optional(),
  created: z.string(),
});
export type ContainerRecord = z.infer<typeof containerRecordSchema>;

export async function readContainerRecord(dir: string): Promise<ContainerRecord> {
  const hint = "Make a container with: pypakr create-container -i IMAGE.tar -c DIR";
  try {
    return await readJson(containerRecordFile(dir), containerRecordSchema, { code: "container-damaged", hint: `Recreate the container: ${hint} --force` });
  } catch (error) {
    if (isErrno(error, "ENOENT") || isErrno(error, "ENOTDIR")) {
      const what = (await fs.stat(dir).catch(() => null)) ? "is not a pypakr container (it has no .pypakr/container.json)" : "does not exist";
      throw new PypakrError(`${dir} ${what}`, { code: "not-a-container", hint });
    }
    throw error;
  }
}
