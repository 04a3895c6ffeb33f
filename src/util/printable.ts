/**
 * The one rule for putting text pypakr did not write itself on a terminal.
 * Image configs, tags, file names inside layers, registry answers and a
 * build's output are hostile: an environment value holding `ESC [ 1 A`,
 * `CR`, `ESC [ 2 K` moves the cursor up and overwrites a line pypakr printed,
 * `ESC ] 0 ; ... BEL` sets the window title, U+202E shows `hs.evil` for
 * `live.sh`. So every character a terminal acts on, or that changes how the
 * text around it reads, is shown as an escape instead of being sent:
 *
 * - C0 controls (U+0000–U+001F) and DEL (U+007F), except the line feed that
 *   pypakr's own output is made of;
 * - C1 controls (U+0080–U+009F): U+009B is a whole CSI on its own, U+009D an
 *   OSC, for terminals that read C1 in UTF-8;
 * - bidi and line-separating format characters: U+061C, U+200E, U+200F,
 *   U+2028, U+2029, U+202A–U+202E, U+2066–U+2069;
 * - lone surrogates, which no encoder can send faithfully.
 *
 * The escapes are JSON's (`\t`, `\r`, `\n`, `\u001b`), so the rule applied to
 * `JSON.stringify` output leaves valid JSON that means the same: those
 * characters occur only inside JSON strings, where `\u009b` reads back as
 * U+009B. One rule thus serves text and `--json` alike (src/util/log.ts
 * applies it to every write).
 */

const SENT_AS_IS = "\n";

/** Everything the rule escapes, line feed included; `printable` lets line feeds through. */
// eslint-disable-next-line no-control-regex -- matching control characters is this rule's whole job
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The same set, to test for (a global RegExp keeps state between `test` calls). */
const HAS_UNPRINTABLE = new RegExp(UNPRINTABLE.source);

const SHORT_ESCAPES: Record<string, string> = { "\t": "\\t", "\r": "\\r", "\n": "\\n" };

function escapeCharacter(character: string): string {
  return SHORT_ESCAPES[character] ?? `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** Text made safe to send to a terminal; line feeds stay (pypakr's own output is lines). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (character) => (character === SENT_AS_IS ? character : escapeCharacter(character)));
}

/** Text made safe and kept on one line: line feeds are escaped too (for one-line messages and hints). */
export function printableLine(text: string): string {
  return text.replace(UNPRINTABLE, escapeCharacter);
}

/** True when the text holds nothing the rule would escape, line feeds and tabs included. */
export function isPrintableLine(text: string): boolean {
  return !HAS_UNPRINTABLE.test(text);
}

/**
 * A value from outside (an image, a registry, a file name) quoted as a JSON
 * string: every control escaped, backslashes and quotes too, so what is shown
 * cannot be read as anything but this one value.
 */
export function quote(value: string): string {
  return printableLine(JSON.stringify(value));
}

/**
 * A value from outside as it goes into a line of text output: as it is when it
 * is ordinary (the usual case: `PORT=8000`, `jokes:1`), quoted when it holds a
 * control character, a line break, a backslash, or starts with a quote, so a
 * value can never end its line and forge the next one (`x\nEntry point: ./run`).
 */
export function show(value: string): string {
  return isPrintableLine(value) && !value.includes("\\") && !value.startsWith('"') ? value : quote(value);
}

/** Single-quoted for a POSIX shell: nothing inside is expanded; a `'` becomes `'\''`. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A word no shell treats specially: left bare in commands pypakr suggests. */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * A value for a command a user may paste (a hint): bare when it is a plain
 * word, else single-quoted, so no `&&`, `|`, `;`, `$( )` in it ever runs.
 */
export function shellWord(value: string): string {
  return SHELL_SAFE.test(value) ? value : shellQuote(value);
}

/**
 * A word of a command line from an image (the entry point), for display:
 * bare when plain, shell-quoted when it holds spaces or shell syntax, and
 * JSON-quoted when it holds controls (which a shell quote would not show).
 */
export function showWord(word: string): string {
  return isPrintableLine(word) ? shellWord(word) : quote(word);
}
