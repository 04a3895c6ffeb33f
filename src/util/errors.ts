/**
 * The one error family. Domain code throws these; only the CLI prints them
 * (message, then the hint on its own line), and exits with `exitCode`.
 */
export class PypakrError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PypakrError";
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Exit code for a command line the user got wrong (as commander uses). */
export const USAGE_EXIT_CODE = 2;

export function usageError(message: string, hint?: string): PypakrError {
  return new PypakrError(message, { hint, exitCode: USAGE_EXIT_CODE });
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
