/**
 * Progress and notices go to stderr so stdout carries only results (`--json`,
 * `inspect`). `setQuiet` silences progress, never errors.
 */
let quiet = false;

export function setQuiet(value: boolean): void {
  quiet = value;
}

export function isQuiet(): boolean {
  return quiet;
}

export function progress(message: string): void {
  if (!quiet) process.stderr.write(`pypakr: ${message}\n`);
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
