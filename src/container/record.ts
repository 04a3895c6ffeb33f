import * as fs from "node:fs/promises";
import { containerRecordFile } from "../base/manifest.js";
import type { PythonIdentity } from "../image/format.js";
import { isErrno, PypakrError } from "../util/errors.js";

/** What a container knows about itself: `.pypakr/container.json`. */
export interface ContainerRecord {
  formatVersion: 1;
  image: { digest: string; source: string; tag?: string };
  base: { id: string; manifestDigest: string; dir: string };
  python: PythonIdentity;
  entrypoint: string[];
  environment: Record<string, string>;
  /** How files were placed (see LinkMode): hardlink means edits in place reach the store. */
  link?: string;
  created: string;
}


export async function readContainerRecord(dir: string): Promise<ContainerRecord> {
  const hint = "Make a container with: pypakr create-container -i IMAGE.tar -c DIR";
  let text: string;
  try {
    text = await fs.readFile(containerRecordFile(dir), "utf8");
  } catch (error) {
    if (isErrno(error, "ENOENT") || isErrno(error, "ENOTDIR")) {
      const what = (await fs.stat(dir).catch(() => null)) ? "is not a pypakr container (it has no .pypakr/container.json)" : "does not exist";
      throw new PypakrError(`${dir} ${what}`, { hint });
    }
    throw error;
  }
  try {
    return JSON.parse(text) as ContainerRecord;
  } catch {
    throw new PypakrError(`${containerRecordFile(dir)} is damaged`, { hint: `Recreate the container: ${hint} --force` });
  }
}
