/**
 * Running one short command with a stranger's root filesystem as `/`: how
 * `pypakr export` asks a runtime image's Python what it is. The tree is
 * bound read-only with nothing of the host beside it (a fresh /proc, /dev
 * and /tmp), no network, a user namespace that cannot make more, and, when
 * pypakr runs as root, host privileges dropped before bwrap starts (setpriv
 * to nobody, no capabilities), so the command is nobody on the host too.
 * The tree's absolute symlinks resolve inside it, where no path leads out.
 */
import { capture, type CommandResult } from "../util/process.js";
import { findBwrap, findHelpers, unavailable } from "./detect.js";

/** nobody: the host identity the command runs as when pypakr is root (the tree must be readable by it). */
export const ROOTFS_UID = 65534;

export interface RootfsCommand {
  bwrap: string;
  /** setpriv's path when running as root (privileges are dropped on the host, before bwrap). */
  setpriv: string | null;
}

/**
 * A host directory shown below the private /tmp: a helper the command needs
 * (read-only), or where it leaves its output (writable: the caller gives the
 * directory to the command's user alone). The tree itself stays untouched.
 */
export interface TmpBind {
  host: string;
  /** An absolute path one name below /tmp. */
  inside: string;
  writable?: boolean;
}

/** The host command line (program first). Pure, for the unit test to read. */
export function rootfsArgv(rootfs: string, argv: string[], env: Record<string, string>, command: RootfsCommand, binds: readonly TmpBind[] = []): string[] {
  for (const bind of binds) if (!/^\/tmp\/[A-Za-z0-9._-]+$/.test(bind.inside)) throw new Error(`a bind must be one name below /tmp, not ${bind.inside}`);
  const drop = command.setpriv === null ? [] : [command.setpriv, "--reuid", String(ROOTFS_UID), "--regid", String(ROOTFS_UID), "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"];
  const environment = ["--clearenv", ...Object.entries(env).flatMap(([name, value]) => ["--setenv", name, value])];
  return [
    ...drop,
    command.bwrap,
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",
    "--hostname",
    "sandbox",
    "--die-with-parent",
    "--new-session",
    "--ro-bind",
    rootfs,
    "/",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--perms",
    "1777",
    "--tmpfs",
    "/tmp",
    ...binds.flatMap((bind) => [bind.writable ? "--bind" : "--ro-bind", bind.host, bind.inside]),
    ...environment,
    "--chdir",
    "/",
    "--",
    ...argv,
  ];
}

/**
 * Runs `argv` (found on env.PATH inside the tree) with `rootfs` as `/`.
 * The caller made the tree with real, empty proc, dev and tmp directories
 * (bwrap mounts on them) and readable by ROOTFS_UID.
 */
export async function runInRootfs(rootfs: string, argv: string[], env: Record<string, string>, options: { timeoutMs: number; maxOutputChars: number; binds?: readonly TmpBind[] }): Promise<CommandResult> {
  const { bwrap } = await findBwrap();
  const asRoot = process.getuid?.() === 0;
  const { setpriv } = findHelpers();
  if (asRoot && setpriv === null) throw unavailable("running as root, pypakr needs setpriv to run a runtime image's Python as nobody, and it is not installed", "Install it: apt-get install util-linux");
  const { binds, ...limits } = options;
  const [program, ...args] = rootfsArgv(rootfs, argv, env, { bwrap, setpriv: asRoot ? setpriv : null }, binds);
  return capture(program as string, args, { env: {}, ...limits });
}
