/**
 * Relocation: moving a venv's files from the path they were made at to another.
 *
 * A build runs at a work path exactly as long as PLACEHOLDER, so turning the
 * work path into the placeholder is a same-length byte substitution that is
 * safe in text and binary files alike, and keeps images independent of where
 * they were built. Materializing turns the placeholder into the container's
 * path: anywhere in text files; in binary files only inside NUL-terminated
 * strings, padded with NULs, and only when the new path is not longer (a longer
 * one would shift offsets and corrupt the file, so it is refused).
 */
import type { RelocationKind } from "./format.js";

export const PREFIX_LENGTH = 96;
export const PLACEHOLDER = "/pypakr-placeholder-prefix-".padEnd(PREFIX_LENGTH, "_");

/** Linux's limit for the whole `#!` line, as pip's script maker assumes. */
const MAX_SHEBANG_LENGTH = 127;
const BINARY_SNIFF_BYTES = 8000;

/** Same rule as git and grep: a NUL byte early in the file means binary. */
export function relocationKind(content: Buffer): RelocationKind {
  return content.subarray(0, BINARY_SNIFF_BYTES).includes(0) ? "binary" : "text";
}

export function replaceAll(content: Buffer, from: string, to: string): Buffer {
  const needle = Buffer.from(from);
  // An empty needle matches at every offset without moving on: nothing to replace.
  if (needle.length === 0) return content;
  const replacement = Buffer.from(to);
  const parts: Buffer[] = [];
  let start = 0;
  for (let at = content.indexOf(needle); at !== -1; at = content.indexOf(needle, start)) {
    parts.push(content.subarray(start, at), replacement);
    start = at + needle.length;
  }
  if (start === 0) return content;
  parts.push(content.subarray(start));
  return Buffer.concat(parts);
}

export class RelocationError extends Error {}

/** Replaces `from` inside each NUL-terminated string, padding with NULs so no offset moves. */
export function relocateBinary(content: Buffer, from: string, to: string): Buffer {
  const needle = Buffer.from(from);
  const replacement = Buffer.from(to);
  if (replacement.length > needle.length) {
    throw new RelocationError(`the new path is ${replacement.length} bytes, longer than the ${needle.length} bytes a binary file has room for`);
  }
  const out = Buffer.from(content);
  if (needle.length === 0) return out;
  let at = out.indexOf(needle);
  while (at !== -1) {
    const end = out.indexOf(0, at);
    if (end === -1) throw new RelocationError("the path is not inside a NUL-terminated string");
    const relocated = replaceAll(out.subarray(at, end), from, to);
    out.fill(0, at, end);
    relocated.copy(out, at);
    at = out.indexOf(needle, at + relocated.length);
  }
  return out;
}

/**
 * A Python script's `#!` line stops working when the interpreter path is too
 * long for the kernel or holds a space. pip's answer, reused here: start with
 * `#!/bin/sh` and re-exec the interpreter from a line that Python reads as a
 * string literal.
 */
export function fixShebang(content: Buffer): Buffer {
  if (content[0] !== 0x23 || content[1] !== 0x21) return content;
  let lineEnd = content.indexOf(0x0a);
  if (lineEnd === -1) lineEnd = content.length;
  const line = content.subarray(2, lineEnd).toString("utf8").trimEnd();
  // The interpreter is everything up to the last `/python…` that only flags follow: its path may hold
  // runs of spaces or tabs (a container path chosen by the user), which the kernel would split at.
  const match = /^(\S.*\/python[\d.]*)((?: -\S+)*)$/.exec(line.trim());
  if (!match) return content;
  const interpreter = match[1] ?? "";
  const flags = (match[2] ?? "").trim();
  // The kernel's limit is in bytes ("#!", the line, the newline), not in characters.
  if (Buffer.byteLength(line) + 3 <= MAX_SHEBANG_LENGTH && !/\s/.test(interpreter)) return content;
  const exec = `'''exec' "${interpreter}"${flags ? ` ${flags}` : ""} "$0" "$@"\n' '''\n`;
  return Buffer.concat([Buffer.from(`#!/bin/sh\n${exec}`), content.subarray(lineEnd + 1)]);
}

/**
 * The reverse of fixShebang, for an interpreter under `prefix`: the plain
 * `#!` line back, so a venv moved to a shorter path gets what a fresh one
 * would (fixShebang then decides again).
 */
export function unfixShebang(content: Buffer, prefix: string): Buffer {
  const head = content.subarray(0, 1024).toString("utf8");
  const match = /^#!\/bin\/sh\n'''exec' "([^"\n]*)"((?: -\S+)*) "\$0" "\$@"\n' '''\n/.exec(head);
  if (!match || !(match[1] ?? "").startsWith(`${prefix}/`)) return content;
  return Buffer.concat([Buffer.from(`#!${match[1] ?? ""}${match[2] ?? ""}\n`), content.subarray(Buffer.byteLength(match[0]))]);
}

/** Rewrites one file's content from the `from` prefix to the `to` prefix. */
export function relocateContent(content: Buffer, kind: RelocationKind, from: string, to: string): Buffer {
  if (kind === "binary") return relocateBinary(content, from, to);
  return fixShebang(replaceAll(content, from, to));
}

/** Characters that would break the shell and Python quoting in activate scripts and shebangs. */
export function unsafePrefixReason(prefix: string): string | null {
  const bad = /[\0\n\r"'`$\\]/.exec(prefix);
  return bad ? `contains ${JSON.stringify(bad[0])}, which venv scripts cannot quote` : null;
}
