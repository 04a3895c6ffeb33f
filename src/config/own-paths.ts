/**
 * Paths a user may name for pypakr to replace or write (a container with
 * --force, an image file) but that pypakr must never touch that way: its own
 * directories and what is in them, anything that holds one of them, the
 * home directory and /. `create-container -c ~/.local/share/pypakr --force`
 * once deleted the store and the bases before failing.
 *
 * Paths are compared real (symlinks resolved, as the kernel will follow them
 * when pypakr renames or deletes), so a symlink or `..` cannot dress one of
 * these up as something else.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { isErrno, PypakrError } from "../util/errors.js";
import { storeDir, tmpDir, type Config } from "./config.js";

interface OwnDir {
  dir: string;
  what: string;
  /** Whether what lies inside is pypakr's too (the store's blobs, a base's files), or only the directory itself. */
  tree: boolean;
}

/**
 * pypakrdir itself is pypakr's, but only some of what is in it: `containers/`
 * holds the containers `run -i` makes, and the original tool's users keep
 * their own directories beside BASE there.
 */
function ownDirs(config: Config, env: NodeJS.ProcessEnv): OwnDir[] {
  return [
    { dir: config.pypakrDir, what: "pypakr's directory (pypakrdir)", tree: false },
    { dir: storeDir(config), what: "pypakr's store", tree: true },
    { dir: config.basesDir, what: "pypakr's bases directory", tree: true },
    { dir: tmpDir(config), what: "pypakr's temporary directory", tree: true },
    { dir: env.HOME || os.homedir(), what: "your home directory", tree: false },
    { dir: path.parse(process.cwd()).root, what: "the root directory", tree: false },
  ];
}

/** The real path of `file`, which need not exist: its nearest existing ancestor's real path, plus the rest. */
export async function realPathOf(file: string): Promise<string> {
  let head = path.resolve(file);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await fs.realpath(head), ...rest);
    } catch (error) {
      if (!isErrno(error, "ENOENT") && !isErrno(error, "ENOTDIR")) throw error;
    }
    const parent = path.dirname(head);
    if (parent === head) return path.join(head, ...rest);
    rest.unshift(path.basename(head));
    head = parent;
  }
}

function isWithin(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

/**
 * Why `target` must not be replaced or written by pypakr at a user's word
 * ("is pypakr's store (/x/store)", "holds your home directory /home/u"), or
 * null when nothing of pypakr's or the system's is at stake there.
 */
export async function ownPathProblem(config: Config, target: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const real = await realPathOf(target);
  const own = await Promise.all(ownDirs(config, env).map(async (entry) => ({ ...entry, real: await realPathOf(entry.dir) })));
  for (const entry of own) {
    if (real === entry.real) return `is ${entry.what} (${entry.dir})`;
    if (entry.tree && isWithin(real, entry.real)) return `is inside ${entry.what} ${entry.dir}`;
  }
  for (const entry of own) {
    if (isWithin(entry.real, real)) return `holds ${entry.what} ${entry.dir}`;
  }
  return null;
}

/**
 * Refuses an image file to be written (create-image -i, save -o, pull -o)
 * where it would replace something of pypakr's: `save -o STORE/index.json`
 * would drop every image, `-o STORE/blobs/sha256/HEX` damage one.
 */
export async function checkOutputFile(config: Config, file: string, option: string): Promise<void> {
  const own = await ownPathProblem(config, file);
  if (own) throw new PypakrError(`cannot write ${file}: it ${own}, which pypakr never replaces or writes into`, { code: "own-path", hint: `Write the image file elsewhere, e.g. ${option} ./image.tar` });
}
