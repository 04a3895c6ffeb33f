/**
 * Every code a PypakrError can carry, with its meaning: the stable name a
 * script matches on (`--json` prints it), while messages may be reworded.
 * docs/ERRORS.md lists the same codes with their typical fix, and a unit test
 * holds the two together. Kebab-case, so a code never reads as a Node.js
 * system error code (ENOENT) on the same `code` property.
 */
export const ERROR_CODES = {
  usage: "the command line is wrong: an option is missing, two options exclude each other, an action is unknown",
  "bad-image-name": "an image name is not of the form [HOST[:PORT]/]NAME[:TAG]",
  "bad-reference": "a registry address or reference is malformed, or names what the command cannot use",
  "bad-config": "a setting (config file, PYPAKR_* or SOURCE_DATE_EPOCH variable, --ca-file) cannot be read or is not valid",
  "bad-env-var": "an environment variable for the image has an unusable name or value",
  "own-path": "a target path is one pypakr keeps for itself (its home, store or bases)",
  "target-unusable": "a target path holds something pypakr will not replace, or its directory does not exist",
  "unsafe-path": "a path holds characters pypakr cannot write into a venv's scripts",
  "path-too-long": "a container path is longer than a binary file's recorded path leaves room for",
  "write-failed": "pypakr could not write where it had to (permissions, free space, a read-only filesystem)",
  "image-not-found": "no stored image has that name or digest",
  "image-file-not-found": "the named image file does not exist",
  "image-ambiguous": "a short digest matches more than one stored image",
  "image-invalid": "an image file or its content is not a usable pypakr image",
  "archive-invalid": "a file is not a readable tar archive (damaged, or not a .tar or .tar.gz)",
  "unsafe-entry": "an archive, image or base entry would write outside its target or is not allowed there",
  "link-leaves-tree": "an archive holds a symlink to an absolute path or out of its target",
  "too-large": "an archive, image or answer is larger than pypakr allows (entries or bytes)",
  "store-damaged": "a file of pypakr's store is damaged or missing",
  "store-busy": "another pypakr process holds the store (or a blob) for too long",
  "concurrent-change": "another pypakr process changed the store or a base while this one used it",
  "node-too-old": "the Node.js running pypakr is older than it supports",
  "python-not-found": "the named Python interpreter is not on PATH",
  "python-unusable": "a Python interpreter does not run or does not answer as a Python 3",
  "venv-failed": "Python's venv module failed to make a virtual environment",
  "platform-mismatch": "an image (or a multi-platform index) has none for the platform pypakr needs",
  "python-mismatch": "the image needs a Python (version, ABI or platform) this machine lacks",
  "base-not-found": "this machine has no base for the container's interpreter",
  "base-damaged": "a base's record or files are damaged or were changed",
  "not-a-container": "a directory does not exist or is not a pypakr container",
  "container-damaged": "a container's record or unfinished relocation is damaged",
  "container-moved": "a container was moved or copied since it was made",
  "container-busy": "another pypakr process is relocating the container, and did not finish in time",
  "container-too-old": "a container was made by an older pypakr that did not record what this needs",
  "reflink-unsupported": "the filesystem cannot make the reflinks --link reflink asks for",
  "command-not-found": "the command to run does not exist in the container",
  "not-executable": "the command to run is not an executable file",
  "source-invalid": "a build source does not exist, cannot be read, or holds what no image may hold",
  "build-failed": "the source's setup script or the requirements' install failed",
  "build-not-packable": "the build left files that cannot go into an image",
  "registry-unreachable": "the registry cannot be reached (network, address, TLS)",
  "registry-login-required": "the registry requires a login",
  "registry-login-refused": "the registry refused the user name and password (or token)",
  "registry-denied": "the registry denied the request to this login",
  "registry-not-found": "the registry has no such repository, tag or blob",
  "registry-failed": "the registry (or its token service) failed with a server error",
  "registry-refused": "the registry refused the request for another reason",
  "registry-misbehaved": "the registry answered in a way the protocol does not allow",
  "registry-bad-data": "the registry sent bytes that do not match their digest or size",
  "registry-transfer-failed": "a download from the registry broke off",
  "registry-delete-disabled": "the registry does not allow deleting (its storage.delete.enabled is off)",
  "unsafe-transport": "pypakr refused to send to a place it cannot trust (plain HTTP off loopback, credentials to another host)",
  "serve-listen-failed": "pypakr serve cannot listen on its address (taken, or not an address of this machine)",
  "credentials-unreadable": "the Docker config file or a login stored in it cannot be read",
  "credential-helper-failed": "a Docker credential helper is missing or failed",
  "runtime-unusable": "a runtime image for pypakr export has no working Python, or one that does not describe itself",
  "sandbox-unavailable": "an app cannot be sandboxed here: bubblewrap or socat is missing, or the kernel forbids the namespaces it needs",
  "bad-query": "a hub search names a distribution with a version specifier PEP 440 does not allow",
  "hub-index-unusable": "the hub's index file is damaged, not an SQLite database, or was written by a newer pypakr",
  internal: "a bug in pypakr: an error it did not expect (only in --json output; never thrown as a PypakrError)",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The one error family. Domain code throws these; only the CLI prints them
 * (message, then the hint on its own line), and exits with `exitCode`.
 */
export class PypakrError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, options: { code: ErrorCode; hint?: string; exitCode?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PypakrError";
    this.code = options.code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Exit code for a command line the user got wrong (as commander uses). */
export const USAGE_EXIT_CODE = 2;

export function usageError(code: ErrorCode, message: string, hint?: string): PypakrError {
  return new PypakrError(message, { code, hint, exitCode: USAGE_EXIT_CODE });
}

/** The text of any thrown value, for wrapping foreign errors into ours. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** True for a Node.js system error with this code (ENOENT, EEXIST, ...). */
export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
