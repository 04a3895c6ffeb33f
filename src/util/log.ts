/**
 * The only door to the terminal: every write pypakr's code makes to stdout or
 * stderr goes through `writeOut` / `writeErr`, which apply the printable rule
 * (src/util/printable.ts) to the whole text, so no value from an image, a
 * registry or a build can send a control sequence, whatever the code that
 * built the text forgot. Only line feeds pass raw. (The one other writer is
 * cli-progress, drawing push and pull bars from labels made printable in
 * src/registry/progress.ts.)
 *
 * Progress and notices go to stderr so stdout carries only results (`--json`,
 * `inspect`). `setQuiet` silences progress, never errors.
 */
import { printable, printableLine } from "./printable.js";

let quiet = false;

export function setQuiet(value: boolean): void {
  quiet = value;
}

export function isQuiet(): boolean {
  return quiet;
}

export function writeOut(text: string): void {
  // eslint-disable-next-line no-restricted-syntax -- the output boundary itself
  process.stdout.write(printable(text));
}

export function writeErr(text: string): void {
  // eslint-disable-next-line no-restricted-syntax -- the output boundary itself
  process.stderr.write(printable(text));
}

/**
 * A result as JSON on stdout. The printable rule leaves it valid JSON with the
 * same meaning: the characters it escapes occur only inside strings, where
 * its `\uXXXX` escapes are JSON's own (JSON.stringify leaves C1 and bidi
 * controls raw).
 */
export function writeJson(value: unknown): void {
  writeOut(JSON.stringify(value, null, 2) + "\n");
}

/** One line of progress on stderr; a line break inside the message is shown escaped, so it cannot start a line of its own. */
export function progress(message: string): void {
  if (!quiet) writeErr(`pypakr: ${printableLine(message)}\n`);
}

export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
