/**
 * Property-based tests of relocation (src/image/relocation.ts), with
 * fast-check, bounded in runs and time. FUZZ_SEED=<n> replays a seed;
 * FUZZ_SCALE=<k> runs k times as many cases.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { fixShebang, PLACEHOLDER, relocateBinary, relocateContent, RelocationError, replaceAll } from "../../../src/image/relocation.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";
import { bounded } from "../../support/fuzz.js";

/** Few distinct characters, so needles occur often and overlap. */
const smallText = (maxLength: number) => fc.string({ unit: fc.constantFrom("a", "b", "/", "é", "\n", "😀"), maxLength });

describe("fuzz: replaceAll", () => {
  test("replaceAll equals String split/join for any text and a non-empty needle", () => {
    fc.assert(
      fc.property(fc.oneof(smallText(40), fc.string({ unit: "binary", maxLength: 40 })), smallText(4).filter((s) => s !== ""), smallText(6), (text, from, to) => {
        assert.equal(replaceAll(Buffer.from(text), from, to).toString(), text.split(from).join(to));
      }),
      bounded(3000, 1500, [["aaa", "aa", "b"], ["é", "\u00e9", ""]]),
    );
  });

  test("replaceAll equals split/join on arbitrary bytes (latin1 view), and never changes its input", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 3 }), fc.string({ unit: "binary-ascii", maxLength: 5 }), (bytes, from, to) => {
        const input = Buffer.from(bytes);
        const copy = Buffer.from(input);
        const out = replaceAll(input, from, to);
        assert.equal(out.toString("latin1"), input.toString("latin1").split(from).join(to));
        assert.deepEqual(input, copy);
      }),
      bounded(3000, 1500),
    );
  });

  // Found by the split/join property: an empty needle matched at the same offset forever (a hang, then out of memory).
  test("regression: replaceAll with an empty needle returns the content unchanged instead of looping forever", () => {
    const input = Buffer.from("abc");
    assert.equal(replaceAll(input, "", "x"), input);
    assert.deepEqual(relocateBinary(Buffer.from("a\0"), "", ""), Buffer.from("a\0"));
  });
});

/** What relocateBinary must do, segment by segment (a segment is the bytes up to a NUL). */
function modelBinary(content: Buffer, from: string, to: string): Buffer | "error" {
  const needle = Buffer.from(from);
  if (Buffer.byteLength(to) > needle.length) return "error";
  const out = Buffer.from(content);
  let start = 0;
  while (start <= content.length) {
    const nul = content.indexOf(0, start);
    const end = nul === -1 ? content.length : nul;
    const segment = content.subarray(start, end);
    if (segment.includes(needle)) {
      if (nul === -1) return "error";
      const relocated = Buffer.from(segment.toString("latin1").split(needle.toString("latin1")).join(Buffer.from(to).toString("latin1")), "latin1");
      out.fill(0, start, end);
      relocated.copy(out, start);
    }
    if (nul === -1) break;
    start = nul + 1;
  }
  return out;
}

describe("fuzz: relocateBinary", () => {
  const binary = fc.array(fc.constantFrom(0, 0x2f, 0x61, 0x62, 0xc3, 0xa9), { maxLength: 48 }).map((bytes) => Buffer.from(bytes));
  const needle = fc.string({ unit: fc.constantFrom("/", "a", "b", "é"), minLength: 1, maxLength: 4 });
  const replacement = fc.string({ unit: fc.constantFrom("/", "a", "b", "é", "c"), maxLength: 5 });

  test("relocateBinary keeps the length, keeps every NUL, and changes only NUL-terminated strings holding the path", () => {
    fc.assert(
      fc.property(binary, needle, replacement, (content, from, to) => {
        const expected = modelBinary(content, from, to);
        let out: Buffer;
        try {
          out = relocateBinary(content, from, to);
        } catch (error) {
          assert.ok(error instanceof RelocationError, String(error));
          assert.equal(expected, "error", `refused (${error.message}) though the model relocates it`);
          return;
        }
        assert.notEqual(expected, "error", "relocated though the path is longer or not NUL-terminated");
        assert.equal(out.length, content.length);
        for (let i = 0; i < content.length; i++) {
          if (content[i] === 0) assert.equal(out[i], 0, `the NUL at ${i} was overwritten`);
          if (out[i] !== content[i]) {
            const start = content.lastIndexOf(0, i) + 1;
            const end = content.indexOf(0, i);
            assert.notEqual(end, -1, `byte ${i} changed outside a NUL-terminated string`);
            assert.ok(content.subarray(start, end).includes(Buffer.from(from)), `byte ${i} changed in a string that does not hold the path`);
          }
        }
        assert.deepEqual(out, expected);
      }),
      bounded(4000, 2000, [[Buffer.from("aa\0"), "a", "b"], [Buffer.from("/a/a/a\0"), "/a", "/"], [Buffer.from("a"), "a", "b"]]),
    );
  });
});

describe("fuzz: text relocation", () => {
  const plainText = fc.string({ unit: fc.constantFrom("a", "b", " ", "\n", "é", ":", "_", "\0"), maxLength: 12 });
  const containerPath = fc
    .array(fc.string({ unit: fc.constantFrom("a", "b", "é", "-", ".", "_", " ", "😀"), minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 })
    .map((parts) => `/${parts.join("/")}`);

  test("placeholder -> container path -> placeholder gives the content back", () => {
    fc.assert(
      fc.property(fc.array(plainText, { minLength: 1, maxLength: 6 }), containerPath, (pieces, prefix) => {
        const content = Buffer.from(pieces.join(PLACEHOLDER));
        const relocated = relocateContent(content, "text", PLACEHOLDER, prefix);
        assert.equal(relocated.includes(PLACEHOLDER), false);
        assert.deepEqual(replaceAll(relocated, prefix, PLACEHOLDER), content);
      }),
      bounded(2000, 1500),
    );
  });
});

describe("fuzz: fixShebang", () => {
  const MAX = 127;
  const PYTHON_LINE = /^(\S.*\/python[\d.]*)((?: -\S+)*)$/;
  const dirName = fc.string({ unit: fc.constantFrom("a", "b", "é", "ü", " ", "\t", "-", ".", "😀", "日"), minLength: 1, maxLength: 40 });
  const interpreterPath = fc.tuple(fc.array(dirName, { minLength: 1, maxLength: 4 }), fc.constantFrom("python", "python3", "python3.11")).map(([dirs, exe]) => `/${dirs.join("/")}/bin/${exe}`);
  const flags = fc.array(fc.constantFrom("-E", "-s", "-I", "-u", "-X"), { maxLength: 2 }).map((list) => list.map((flag) => ` ${flag}`).join(""));
  const body = fc.string({ unit: fc.constantFrom("a", "\n", "#", "!", " ", "é"), maxLength: 20 });
  const script = fc.oneof(
    fc.tuple(interpreterPath, flags, fc.constantFrom("\n", "\r\n", "  \n", ""), body).map(([interp, f, eol, rest]) => `#!${interp}${f}${eol}${rest}`),
    fc.string({ unit: fc.constantFrom("#", "!", "/", "a", " ", "\n", "python"), maxLength: 30 }),
  );

  /** The first line of `text`, without its newline. */
  const firstLine = (text: string) => text.split("\n")[0] ?? "";

  test("fixShebang leaves a script alone or turns it into the /bin/sh form; what it leaves is a line the kernel runs", () => {
    fc.assert(
      fc.property(script, (text) => {
        const input = Buffer.from(text);
        const out = fixShebang(input);
        if (out.equals(input)) {
          const line = firstLine(text).slice(2).trimEnd();
          const match = text.startsWith("#!") ? PYTHON_LINE.exec(line.trim()) : null;
          if (match) {
            assert.ok(Buffer.byteLength(`#!${line}\n`) <= MAX, `a ${Buffer.byteLength(`#!${line}\n`)}-byte python shebang was left as it is: ${JSON.stringify(line)}`);
            assert.ok(!/\s/.test(match[1] ?? ""), "an interpreter path holding a space or tab was left in the shebang");
          }
          return;
        }
        const result = out.toString();
        assert.ok(result.startsWith("#!/bin/sh\n'''exec' \""), result);
        const lines = result.split("\n");
        assert.equal(lines[2], "' '''");
        // The script after its first line is kept byte for byte.
        const newline = input.indexOf(0x0a);
        assert.deepEqual(out.subarray(out.length - (newline === -1 ? 0 : input.length - newline - 1)), newline === -1 ? Buffer.alloc(0) : input.subarray(newline + 1));
      }),
      bounded(3000, 1500, [
        // Found: the length limit was checked in characters, so a 135-byte shebang of 75 characters was left as it was.
        [`#!/${"é".repeat(60)}/bin/python\n`],
        // Found: an interpreter path with two spaces in a row (or a tab) did not match, so it was left to the kernel to split.
        ["#!/a  b/bin/python3\n"],
        ["#!/a\tb/bin/python3 -E\n"],
      ]),
    );
  });

  let scratch = "";
  before(async () => {
    scratch = await makeTempDir("pypakr-fuzz-shebang-");
  });
  after(async () => {
    await removeDir(scratch);
  });

  test("a rewritten script really runs its interpreter with the script path and arguments (/bin/sh)", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(dirName, { minLength: 1, maxLength: 4 }), flags, async (dirs, flagText) => {
        n += 1;
        const bin = path.join(scratch, String(n), ...dirs.map((dir) => dir.replace(/^\.+$/, "d")), "bin");
        await fs.mkdir(bin, { recursive: true });
        const python = path.join(bin, "python3");
        // A stand-in interpreter that prints what it was given, one argument a line.
        await fs.writeFile(python, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
        const script = path.join(scratch, String(n), "script");
        const original = Buffer.from(`#!${python}${flagText}\nprint('hi')\n`);
        const fixed = fixShebang(original);
        await fs.writeFile(script, fixed, { mode: 0o755 });
        const result = spawnSync(script, ["one arg", "$two"], { encoding: "utf8" });
        assert.equal(result.error, undefined, `cannot run a script whose interpreter is ${python}`);
        // The kernel passes everything after the interpreter as one argument; the /bin/sh form splits the flags.
        const given = fixed.equals(original) ? [flagText.trim()].filter(Boolean) : flagText.split(" ").filter(Boolean);
        const expected = [...given, script, "one arg", "$two"];
        assert.deepEqual(result.stdout.split("\n").slice(0, -1), expected, result.stderr);
      }),
      bounded(40, 2500, [
        [["  a", "a"], ""],
        [["x\ty"], " -E"],
      ]),
    );
  });
});
