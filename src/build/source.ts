/**
 * A source is a directory or a tar (.tar or .tar.gz) of app files plus a
 * `setup` script or a requirements / project file. Its files are laid into the
 * work env's root, as in the original, so `setup` and `run` find them in their
 * working directory.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { METADATA_DIR } from "../base/manifest.js";
import { extractTar } from "../image/extract.js";
import { WHITEOUT_PREFIX } from "../image/layer-writer.js";
import { isErrno, PypakrError } from "../util/errors.js";

export interface SourceFiles {
  setup: "executable" | "not-executable" | "absent";
  run: boolean;
  requirements: boolean;
  pyproject: boolean;
}

function sourceError(source: string, problem: string, hint: string): PypakrError {
  return new PypakrError(`source ${source} ${problem}`, { hint });
}

/** Copies a source directory, refusing what an image cannot hold or that would point outside it. */
async function copySourceDir(source: string, from: string, to: string, relativeDir = ""): Promise<void> {
  for (const name of (await fs.readdir(from)).sort()) {
    const relative = relativeDir ? `${relativeDir}/${name}` : name;
    if (name.startsWith(WHITEOUT_PREFIX)) {
      throw sourceError(source, `holds "${relative}", named like an OCI whiteout (.wh.*), which would mean a deletion in an image`, "Rename the file.");
    }
    const full = path.join(from, name);
    const target = path.join(to, name);
    const stat = await fs.lstat(full);
    if (stat.isDirectory()) {
      await fs.mkdir(target, { mode: 0o755 });
      await copySourceDir(source, full, target, relative);
    } else if (stat.isFile()) {
      await fs.copyFile(full, target, fs.constants.COPYFILE_FICLONE);
      await fs.chmod(target, stat.mode & 0o111 ? 0o755 : 0o644);
    } else if (stat.isSymbolicLink()) {
      const link = await fs.readlink(full);
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(relative), link));
      if (path.posix.isAbsolute(link) || resolved === ".." || resolved.startsWith("../")) {
        throw sourceError(source, `holds the symlink "${relative}" -> "${link}", which points outside the source`, "Replace it with the file itself, or a relative link inside the source.");
      }
      await fs.symlink(link, target);
    } else {
      throw sourceError(source, `holds "${relative}", which is not a regular file, directory or symlink`, "Remove it from the source.");
    }
  }
}

/** A tar whose only top-level entry is a directory (`tar cf app.tar app/`) means that directory's contents. */
async function sourceRoot(dir: string): Promise<string> {
  const names = await fs.readdir(dir);
  if (names.length !== 1) return dir;
  const only = path.join(dir, names[0] ?? "");
  const stat = await fs.lstat(only);
  return stat.isDirectory() ? only : dir;
}

async function describeSource(root: string): Promise<SourceFiles> {
  const stat = (name: string) => fs.lstat(path.join(root, name)).catch(() => null);
  const setup = await stat("setup");
  return {
    setup: !setup ? "absent" : setup.isFile() && setup.mode & 0o100 ? "executable" : "not-executable",
    run: Boolean(await stat("run")),
    requirements: Boolean((await stat("requirements.txt"))?.isFile()),
    pyproject: Boolean((await stat("pyproject.toml"))?.isFile()),
  };
}

/**
 * Lays the source's files into `workEnv`. `scratch` is an empty directory for
 * unpacking a tar. Top-level names the venv already has (bin, lib, pyvenv.cfg,
 * ...) are refused: merging them would silently change the venv itself.
 */
export async function stageSource(source: string, workEnv: string, scratch: string): Promise<SourceFiles> {
  let stat;
  try {
    stat = await fs.stat(source);
  } catch (error) {
    if (isErrno(error, "ENOENT")) throw sourceError(source, "does not exist", "Pass a directory or a .tar/.tar.gz file with -s.");
    throw error;
  }
  let root = source;
  if (stat.isFile()) {
    await extractTar(source, scratch, { what: `source ${source}`, whiteouts: "refuse" });
    root = await sourceRoot(scratch);
  } else if (!stat.isDirectory()) {
    throw sourceError(source, "is neither a directory nor a file", "Pass a directory or a .tar/.tar.gz file with -s.");
  }
  const venvNames = new Set(await fs.readdir(workEnv));
  for (const name of await fs.readdir(root)) {
    if (name.startsWith(WHITEOUT_PREFIX)) throw sourceError(source, `holds "${name}", named like an OCI whiteout (.wh.*)`, "Rename the file.");
    if (venvNames.has(name) || name === METADATA_DIR) {
      throw sourceError(source, `holds "${name}" at its top level, which the venv itself has`, `Move "${name}" into a subdirectory of your app, or create it from setup.`);
    }
  }
  if (root === source) {
    await copySourceDir(source, root, workEnv);
  } else {
    for (const name of await fs.readdir(root)) await fs.rename(path.join(root, name), path.join(workEnv, name));
  }
  return describeSource(workEnv);
}
