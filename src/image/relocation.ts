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

/** The name every venv gives its interpreter: the one a canonical shebang uses. */
export const CANONICAL_INTERPRETER = "python";

const SH_EXEC_HEAD = "#!/bin/sh\n'''exec' ";
const SH_EXEC_TAIL = ` "$0" "$@"\n' '''\n`;

/** Interpreter and flags of a script's first line(s), in either form pip writes (and fixShebang does). */
function readShebang(text: string): { interpreter: string; flags: string; end: number } | null {
  if (text.startsWith(SH_EXEC_HEAD)) {
    const tail = text.indexOf(SH_EXEC_TAIL, SH_EXEC_HEAD.length);
    const newline = text.indexOf("\n", SH_EXEC_HEAD.length);
    if (tail === -1 || tail > newline) return null;
    const match = /^(?:"([^"]*)"|(\S+))((?: -\S+)*)$/.exec(text.slice(SH_EXEC_HEAD.length, tail));
    if (!match) return null;
    return { interpreter: match[1] ?? match[2] ?? "", flags: (match[3] ?? "").trim(), end: tail + SH_EXEC_TAIL.length };
  }
  if (!text.startsWith("#!")) return null;
  let end = text.indexOf("\n");
  if (end === -1) end = text.length;
  const match = /^(\S+)((?: -\S+)*)$/.exec(text.slice(2, end).trim());
  if (!match) return null;
  return { interpreter: match[1] ?? "", flags: (match[2] ?? "").trim(), end: Math.min(end + 1, text.length) };
}

/**
 * One form for a script whose shebang names the env's own interpreter (at
 * `prefix`) by any of its names (`interpreters`: python, python3,
 * python3.11, ...), in either of pip's forms: `#!PREFIX/bin/python FLAGS`.
 * Which name pip writes depends on how it was run (`pip` runs as
 * bin/python3, `python -m pip` as bin/python), and which form on the length
 * of the path it ran at; neither says anything about the wheel, and a layer
 * must depend on the wheel only. Materializing turns this back into a line
 * the kernel runs (fixShebang). Text files only: a binary one keeps its offsets.
 */
export function canonicalShebang(content: Buffer, prefix: string, interpreters: ReadonlySet<string>): Buffer {
  if (content[0] !== 0x23 || content[1] !== 0x21 || relocationKind(content) === "binary") return content;
  // The shebang is in the first bytes; latin1 maps bytes to characters one to one, so offsets hold.
  const head = content.subarray(0, 4096).toString("latin1");
  const shebang = readShebang(head);
  const bin = `${prefix}/bin/`;
  if (!shebang?.interpreter.startsWith(bin) || !interpreters.has(shebang.interpreter.slice(bin.length))) return content;
  const line = `#!${bin}${CANONICAL_INTERPRETER}${shebang.flags ? ` ${shebang.flags}` : ""}\n`;
  if (head.startsWith(line)) return content;
  return Buffer.concat([Buffer.from(line, "latin1"), content.subarray(shebang.end)]);
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
  return fixShebang(relocateText(content, from, to));
}

/** A path no shell or Python string needs quoted or escaped: then every occurrence is a plain substitution. */
const PLAIN_PATH = /^[A-Za-z0-9_@%+=:,./-]*$/;

/**
 * Shell scripts, where a bare path is a word that must be quoted: a `#!` line
 * naming a shell, or venv's activate scripts, which have no `#!` but start
 * with `# This file must be used with "source ...`.
 */
function isShellScript(content: Buffer): boolean {
  const head = content.subarray(0, 200).toString("latin1");
  return /^#!\s*(?:\/usr)?\/bin\/(?:env\s+)?(?:ba|da|k|z|c|tc|fi)?sh\b/.test(head) || head.startsWith('# This file must be used with "source ');
}

type QuoteContext = "bare" | "single" | "double" | "comment";

/**
 * Where a line's text leaves off: inside a '...' or "..." string, a comment,
 * or a bare word. The same reading serves shell (csh and fish alike for
 * these scripts) and Python, except that a backslash escapes a quote inside
 * '...' only in Python. A string spanning lines is not followed (the files
 * that name a venv's path do not have one around it).
 */
function quoteContext(line: Buffer, shell: boolean): QuoteContext {
  let state: QuoteContext = "bare";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (state === "bare") {
      if (c === 0x5c) i++;
      else if (c === 0x27) state = "single";
      else if (c === 0x22) state = "double";
      else if (c === 0x23 && (i === 0 || line[i - 1] === 0x20 || line[i - 1] === 0x09)) return "comment";
    } else if (state === "single") {
      if (c === 0x27) state = "bare";
      else if (c === 0x5c && !shell) i++;
    } else if (c === 0x5c) {
      i++;
    } else if (c === 0x22) {
      state = "bare";
    }
  }
  return state;
}

/**
 * `to` as it must be written where the path stood. unsafePrefixReason has
 * refused what no quoting serves (", $, `, \, line breaks), so inside "..."
 * the path goes in as it is. Inside '...' a `'` ends the string: the shell
 * spelling `'"'"'` closes it, adds a double-quoted `'` and reopens it (sh,
 * csh and fish join adjacent strings); Python takes `\'`. A bare word in a
 * shell script (venv's scripts since gh-124651 write `VIRTUAL_ENV=/path`,
 * relying on shlex.quote at creation) is single-quoted whole, as shlex.quote
 * does. Elsewhere (a .pth line, RECORD, a comment) the path is plain text.
 */
function quotedFor(context: QuoteContext, to: string, shell: boolean): string {
  if (context === "single") return to.replaceAll("'", shell ? `'"'"'` : "\\'");
  if (context === "bare" && shell) return shlexQuote(to);
  return to;
}

/** Python's shlex.quote, which venv's templates use since gh-124651: bare when plain, else '...' with `'"'"'`. */
function shlexQuote(value: string): string {
  return PLAIN_PATH.test(value) && value !== "" ? value : `'${value.replaceAll("'", `'"'"'`)}'`;
}

/**
 * Replaces `from` with `to` in a text file, quoting `to` for where each
 * occurrence stands when `to` holds characters that need it (a space, a
 * `'`). In a shell script, `from` is also found in the spelling venv's
 * shlex.quote gave it when it needed quoting (a base made under a home with
 * a `'`), and that whole quoted word is replaced. Plain paths on both sides
 * are a plain substitution, byte for byte.
 */
export function relocateText(content: Buffer, from: string, to: string): Buffer {
  if (PLAIN_PATH.test(to) && PLAIN_PATH.test(from)) return replaceAll(content, from, to);
  const needle = Buffer.from(from);
  if (needle.length === 0) return content;
  const shell = isShellScript(content);
  const quoted = shell && shlexQuote(from) !== from ? Buffer.from(shlexQuote(from)) : null;
  const next = (start: number): { at: number; length: number; context?: QuoteContext } | null => {
    const raw = content.indexOf(needle, start);
    const spelled = quoted ? content.indexOf(quoted, start) : -1;
    if (spelled !== -1 && quoted && (raw === -1 || spelled < raw)) return { at: spelled, length: quoted.length, context: "bare" };
    return raw === -1 ? null : { at: raw, length: needle.length };
  };
  const parts: Buffer[] = [];
  let start = 0;
  for (let found = next(0); found; found = next(start)) {
    const { at, length } = found;
    const lineStart = at === 0 ? 0 : content.lastIndexOf(0x0a, at - 1) + 1;
    const context = found.context ?? quoteContext(content.subarray(lineStart, at), shell);
    parts.push(content.subarray(start, at), Buffer.from(quotedFor(context, to, shell)));
    start = at + length;
  }
  if (start === 0) return content;
  parts.push(content.subarray(start));
  return Buffer.concat(parts);
}

/**
 * What no quoting can carry, so a venv at such a path cannot work: venv's
 * scripts put the path inside "..." (sh, csh, fish) where `"`, `$`, `` ` ``
 * and `\` are special, and pip's script header re-execs the interpreter from
 * `"..."` too; a line break or NUL ends a shebang line or a C string. (A `'`
 * and spaces are fine: relocateText quotes them where they stand.)
 */
export function unsafePrefixReason(prefix: string): string | null {
  const bad = /[\0\n\r"`$\\]/.exec(prefix);
  if (!bad) return null;
  const what: Record<string, string> = { "\0": "a NUL byte", "\n": "a line break", "\r": "a carriage return", '"': 'a double quote (")', "`": "a backquote (`)", $: "a dollar sign ($)", "\\": "a backslash (\\)" };
  return `contains ${what[bad[0]] ?? JSON.stringify(bad[0])}, which a venv's scripts cannot hold: activate and pip's script headers put the path inside "...", where that character is special to the shell`;
}
