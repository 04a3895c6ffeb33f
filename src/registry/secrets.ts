/**
 * Keeping credentials out of everything pypakr prints. Every password, token
 * and Authorization value the registry code handles is registered here as it
 * is learned, and every error that leaves the registry code (message, stack
 * and causes, as --debug prints them) is passed through `scrubError`. Known
 * shapes (Authorization headers, token fields) are masked even when their
 * value was never registered.
 */
const secrets = new Set<string>();
const MASK = "<redacted>";

/** Remembers a secret so that no output can show it. Very short values are masked by shape only. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) {
    secrets.add(value);
    // A basic credential shows up base64-encoded in headers and config files.
    secrets.add(Buffer.from(value).toString("base64"));
  }
}

export function scrub(text: string): string {
  let result = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) result = result.split(secret).join(MASK);
  return result
    .replace(/\b(authorization\s*["']?\s*[:=]\s*["']?)(?:basic|bearer)?\s*[^\s"',}]+/gi, `$1${MASK}`)
    .replace(/\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${MASK}`)
    .replace(/("(?:token|access_token|refresh_token|identitytoken|password|secret|auth)"\s*:\s*")[^"]*"/gi, `$1${MASK}"`)
    .replace(/([?&](?:access_token|token|password|refresh_token)=)[^&\s]+/gi, `$1${MASK}`)
    .replace(/(\/\/)[^/@\s:]+:[^/@\s]+@/g, `$1${MASK}@`);
}

/** Scrubs an error in place (message, stack, causes) and returns it, so `throw scrubError(e)` keeps its type. */
export function scrubError<T>(error: T, depth = 0): T {
  if (!(error instanceof Error) || depth > 5) return error;
  try {
    error.message = scrub(error.message);
    if (error.stack) error.stack = scrub(error.stack);
    if (error.cause !== undefined) scrubError(error.cause, depth + 1);
  } catch {
    // A frozen foreign error: leave it; its text is not printed without --debug.
  }
  return error;
}

/** Runs registry work so that nothing it throws can carry a secret. */
export async function withoutSecrets<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw scrubError(error);
  }
}
