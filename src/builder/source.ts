/**
 * A source is a directory or a tar (.tar or .tar.gz) of app files plus a
 * `setup` script or a requirements / project file. Its files, less what
 * .pypakrignore leaves out, are laid into the work env's root, as in the
 * original, so `setup` and `run` find them in their working directory.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { METADATA_DIR } from "../layout/index.js";
import { extractTar, linkDestination, WHITEOUT_PREFIX } from "../image/index.js";
import { isErrno, PypakrError } from "../util/errors.js";
import { describeLeftOut, IGNORE_FILE, SourceRules, VENV_MARKER } from "./pypakrignore.js";

export interface SourceFiles {
  setup: "executable" | "not-executable" | "absent";
  run: boolean;
  requirements: boolean;
  pyproject: boolean;
}

function sourceError(source: string, problem: string, hint: string): PypakrError {
  return new PypakrError(`source ${source} ${problem}`, { code: "source-invalid", hint });
}

type SourceEntry = { path: string; type: "dir" } | { path: string; type: "file"; executable: boolean } | { path: string; type: "symlink"; link: string };

/** A source read and checked, not yet placed: what goes into the build, and what .pypakrignore left out. */
export interface SourceTree {
  source: string;
  /** Where the files are: the source directory, or pypakr's own unpacked copy of a tar (whose files may be moved). */
  root: string;
  unpacked: boolean;
  /** What goes into the build, a directory before what it holds. */
  entries: SourceEntry[];
  rules: SourceRules;
  /** Topmost paths the rules left out. */
  leftOut: string[];
}

/**
 * Lists a source directory, leaving out what the rules say, refusing what an
 * image cannot hold or that would point outside it. Left-out directories are
 * not read at all (a .git or a venv can be large).
 */
async function walkSource(tree: SourceTree, dir: string, relativeDir = ""): Promise<void> {
  const { source, rules } = tree;
  for (const name of (await fs.readdir(dir)).sort()) {
    const relative = relativeDir ? `${relativeDir}/${name}` : name;
    const full = path.join(dir, name);
    const stat = await fs.lstat(full);
    const isVenv = stat.isDirectory() && Boolean((await fs.lstat(path.join(full, VENV_MARKER)).catch(() => null))?.isFile());
    if (rules.leavesOut(relative, { dir: stat.isDirectory(), venv: isVenv })) {
      tree.leftOut.push(relative);
      continue;
    }
    const leaveOut = `or leave it out of the image with the line "/${relative}" in ${IGNORE_FILE}`;
    if (name.startsWith(WHITEOUT_PREFIX)) {
      throw sourceError(source, `holds "${relative}", named like an OCI whiteout (.wh.*), which would mean a deletion in an image`, `Rename the file, ${leaveOut}.`);
    }
    if (stat.isDirectory()) {
      tree.entries.push({ path: relative, type: "dir" });
      await walkSource(tree, full, relative);
    } else if (stat.isFile()) {
      tree.entries.push({ path: relative, type: "file", executable: (stat.mode & 0o111) !== 0 });
    } else if (stat.isSymbolicLink()) {
      const link = await fs.readlink(full);
      if (path.posix.isAbsolute(link) || linkDestination(relative, link) === null) {
        throw sourceError(source, `holds the symlink "${relative}" -> "${link}", which points outside the source`, `Replace it with the file itself or a relative link inside the source, ${leaveOut}.`);
      }
      tree.entries.push({ path: relative, type: "symlink", link });
    } else {
      throw sourceError(source, `holds "${relative}", which is not a regular file, directory or symlink`, `Remove it from the source, ${leaveOut}.`);
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
 * Reads a source: unpacks a tar into `scratch` (an empty directory), applies
 * .pypakrignore, and checks every entry. Nothing of the build exists yet, so
 * a bad source costs no base and no work env.
 */
export async function readSource(source: string, scratch: string): Promise<SourceTree> {
  let stat;
  try {
    stat = await fs.stat(source);
  } catch (error) {
    if (isErrno(error, "ENOENT")) throw sourceError(source, "does not exist", "Pass a directory or a .tar/.tar.gz file with -s.");
    throw error;
  }
  let root = source;
  if (stat.isFile()) {
    try {
      await extractTar(source, scratch, { what: `source ${source}`, whiteouts: "refuse" });
    } catch (error) {
      // A tar is checked as any archive, before .pypakrignore could leave a venv's links to its interpreter out.
      if (!(error instanceof PypakrError) || error.code !== "link-leaves-tree") throw error;
      throw new PypakrError(error.message, {
        code: error.code,
        hint: `Make the tar without it (a virtual environment: tar --exclude=.venv ...), or build from the folder itself, where ${IGNORE_FILE} leaves venvs out and can name any other link.`,
      });
    }
    root = await sourceRoot(scratch);
  } else if (!stat.isDirectory()) {
    throw sourceError(source, "is neither a directory nor a file", "Pass a directory or a .tar/.tar.gz file with -s.");
  }
  const tree: SourceTree = { source, root, unpacked: root !== source, entries: [], rules: await SourceRules.load(root, `source ${source}`), leftOut: [] };
  await walkSource(tree, root);
  if (!tree.entries.some((entry) => entry.type !== "dir")) {
    const what = "your app's files, with a setup script, requirements.txt or pyproject.toml that installs what it needs";
    if (tree.leftOut.length === 0) throw sourceError(source, "holds no files, so there is nothing to build", `Put ${what} in it (see pypakr help create-image).`);
    throw sourceError(
      source,
      `holds no files once ${IGNORE_FILE}${tree.rules.hasFile ? "" : "'s defaults"} leave${tree.rules.hasFile ? "s" : ""} out ${describeLeftOut(tree.leftOut)}, so there is nothing to build`,
      `Put ${what} in it, or take back what should go in with a "!" line in ${IGNORE_FILE} (e.g. !dist/).`,
    );
  }
  return tree;
}

/**
 * Lays the source's files into `workEnv`. Top-level names the venv already
 * has (bin, lib, pyvenv.cfg, ...) are refused: merging them would silently
 * change the venv itself.
 */
export async function placeSource(tree: SourceTree, workEnv: string): Promise<SourceFiles> {
  const venvNames = new Set(await fs.readdir(workEnv));
  for (const entry of tree.entries) {
    const name = entry.path;
    if (name.includes("/") || !(venvNames.has(name) || name === METADATA_DIR)) continue;
    throw sourceError(tree.source, `holds "${name}" at its top level, which the venv itself has`, `Move "${name}" into a subdirectory of your app, or create it from setup.`);
  }
  for (const entry of tree.entries) {
    const from = path.join(tree.root, entry.path);
    const to = path.join(workEnv, entry.path);
    if (entry.type === "dir") {
      await fs.mkdir(to, { mode: 0o755 });
    } else if (entry.type === "symlink") {
      await fs.symlink(entry.link, to);
    } else {
      // pypakr's own unpacked copy of a tar can be moved; a source directory is the user's, and only copied.
      if (tree.unpacked) await fs.rename(from, to);
      else await fs.copyFile(from, to, fs.constants.COPYFILE_FICLONE);
      await fs.chmod(to, entry.executable ? 0o755 : 0o644);
    }
  }
  return describeSource(workEnv);
}
