import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  canonicalShebang,
  fixShebang,
  PLACEHOLDER,
  PREFIX_LENGTH,
  relocateBinary,
  relocateContent,
  relocateText,
  RelocationError,
  relocationKind,
  replaceAll,
  unfixShebang,
  unsafePrefixReason,
} from "../../../src/image/relocation.js";
import { relocateFileContent } from "../../../src/container/relocate.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

const NUL = Buffer.from([0]);

/** A C string: the text followed by its terminating NUL. */
function cString(text: string): Buffer {
  return Buffer.concat([Buffer.from(text), NUL]);
}

describe("PLACEHOLDER", () => {
  test("PLACEHOLDER is exactly PREFIX_LENGTH bytes long", () => {
    assert.equal(Buffer.byteLength(PLACEHOLDER), PREFIX_LENGTH);
  });
});

describe("replaceAll", () => {
  test("replaceAll returns the very same Buffer when there is no match", () => {
    const input = Buffer.from("nothing to see here");
    assert.equal(replaceAll(input, "/old", "/new"), input);
  });

  test("replaceAll replaces every match, including adjacent ones and one at the end", () => {
    const input = Buffer.from("/old:/old/lib/old/old");
    assert.equal(replaceAll(input, "/old", "/brand-new").toString(), "/brand-new:/brand-new/lib/brand-new/brand-new");
  });

  test("replaceAll can shorten the content", () => {
    assert.equal(replaceAll(Buffer.from("a/long/prefix/b a/long/prefix/c"), "/long/prefix", "/p").toString(), "a/p/b a/p/c");
  });

  test("replaceAll leaves the input untouched", () => {
    const input = Buffer.from("x/old/y");
    replaceAll(input, "/old", "/new");
    assert.equal(input.toString(), "x/old/y");
  });
});

describe("relocationKind", () => {
  test("relocationKind calls content without NUL bytes text", () => {
    assert.equal(relocationKind(Buffer.from("#!/usr/bin/python\nprint('hi')\n")), "text");
    assert.equal(relocationKind(Buffer.alloc(0)), "text");
  });

  test("relocationKind calls content with a NUL in the first 8000 bytes binary", () => {
    const content = Buffer.alloc(10_000, 0x61);
    content[7999] = 0;
    assert.equal(relocationKind(content), "binary");
  });

  test("relocationKind ignores a NUL after the first 8000 bytes", () => {
    // Same rule as git and grep: only the start of the file is sniffed.
    const content = Buffer.alloc(10_000, 0x61);
    content[8000] = 0;
    assert.equal(relocationKind(content), "text");
  });
});

describe("relocateBinary", () => {
  test("relocateBinary replaces a same-length path in place", () => {
    const input = Buffer.concat([Buffer.from("ELF"), NUL, cString("/old/path/lib/libx.so"), Buffer.from("tail")]);
    const out = relocateBinary(input, "/old/path", "/new/path");
    assert.equal(out.length, input.length);
    assert.deepEqual(out, Buffer.concat([Buffer.from("ELF"), NUL, cString("/new/path/lib/libx.so"), Buffer.from("tail")]));
  });

  test("relocateBinary pads a shorter replacement with NULs inside the C string and keeps the total length", () => {
    const input = Buffer.concat([Buffer.from("head"), NUL, cString("/old/long/path/lib/python3.11"), Buffer.from("after")]);
    const out = relocateBinary(input, "/old/long/path", "/n");
    assert.equal(out.length, input.length);
    const removed = "/old/long/path".length - "/n".length;
    assert.deepEqual(
      out,
      Buffer.concat([Buffer.from("head"), NUL, Buffer.from("/n/lib/python3.11"), Buffer.alloc(removed), NUL, Buffer.from("after")]),
    );
    // What follows the C string does not move.
    assert.equal(out.subarray(out.length - 5).toString(), "after");
  });

  test("relocateBinary relocates every occurrence, in separate strings and within one string", () => {
    const input = Buffer.concat([cString("/old/a:/old/b"), Buffer.from([1, 2, 3]), cString("x/old/c"), cString("/old")]);
    const out = relocateBinary(input, "/old", "/n");
    assert.equal(out.length, input.length);
    assert.deepEqual(
      out,
      Buffer.concat([
        Buffer.from("/n/a:/n/b"),
        Buffer.alloc(4),
        NUL,
        Buffer.from([1, 2, 3]),
        Buffer.from("x/n/c"),
        Buffer.alloc(2),
        NUL,
        Buffer.from("/n"),
        Buffer.alloc(2),
        NUL,
      ]),
    );
  });

  test("relocateBinary leaves the input buffer untouched", () => {
    const input = cString("/old/x");
    relocateBinary(input, "/old", "/n");
    assert.deepEqual(input, cString("/old/x"));
  });

  test("relocateBinary returns equal content when the path does not occur", () => {
    const input = Buffer.concat([cString("nothing"), Buffer.from([0xff, 0xfe])]);
    assert.deepEqual(relocateBinary(input, "/old", "/n"), input);
  });

  test("relocateBinary refuses a path longer than the placeholder", () => {
    const input = cString(`${PLACEHOLDER}/lib`);
    assert.throws(() => relocateBinary(input, PLACEHOLDER, `/${"x".repeat(PREFIX_LENGTH)}`), RelocationError);
  });

  test("relocateBinary refuses a longer path even when the placeholder does not occur", () => {
    // The length check is about the destination, not about this file's content.
    assert.throws(() => relocateBinary(Buffer.from("no match\0"), "/ab", "/abcd"), RelocationError);
  });

  test("relocateBinary refuses an occurrence with no terminating NUL", () => {
    const input = Buffer.concat([cString("/old/ok"), Buffer.from("/old/unterminated")]);
    assert.throws(() => relocateBinary(input, "/old", "/n"), (error: unknown) => {
      assert.ok(error instanceof RelocationError);
      assert.match(error.message, /NUL-terminated/);
      return true;
    });
  });
});

describe("fixShebang", () => {
  const longDir = `/${"d".repeat(70)}/${"e".repeat(70)}`;

  test("fixShebang leaves a short python shebang unchanged", () => {
    const input = Buffer.from("#!/x/bin/python\nprint('hi')\n");
    assert.equal(fixShebang(input), input);
  });

  test("fixShebang leaves a short python3.11 shebang with a flag unchanged", () => {
    const input = Buffer.from("#!/x/bin/python3.11 -E\nprint('hi')\n");
    assert.equal(fixShebang(input), input);
  });

  test("fixShebang leaves content without a shebang unchanged", () => {
    const input = Buffer.from(`# ${longDir}/bin/python\nprint('hi')\n`);
    assert.equal(fixShebang(input), input);
  });

  test("fixShebang rewrites an interpreter path longer than 127 characters to the /bin/sh form and keeps the script", () => {
    const interpreter = `${longDir}/bin/python`;
    assert.ok(interpreter.length > 127);
    const out = fixShebang(Buffer.from(`#!${interpreter}\nimport sys\nprint(sys.argv)\n`)).toString();
    assert.equal(out, `#!/bin/sh\n'''exec' "${interpreter}" "$0" "$@"\n' '''\nimport sys\nprint(sys.argv)\n`);
  });

  test("fixShebang rewrites an interpreter path holding a space even when it is short", () => {
    const out = fixShebang(Buffer.from("#!/my apps/venv/bin/python3\nprint(1)\n")).toString();
    assert.equal(out, `#!/bin/sh\n'''exec' "/my apps/venv/bin/python3" "$0" "$@"\n' '''\nprint(1)\n`);
  });

  test("fixShebang keeps interpreter flags in the exec line", () => {
    const interpreter = `${longDir}/bin/python3`;
    const out = fixShebang(Buffer.from(`#!${interpreter} -E -s\nprint(1)\n`)).toString();
    assert.equal(out, `#!/bin/sh\n'''exec' "${interpreter}" -E -s "$0" "$@"\n' '''\nprint(1)\n`);
  });

  test("fixShebang handles a script that is only a long shebang line without a newline", () => {
    const interpreter = `${longDir}/bin/python`;
    assert.equal(fixShebang(Buffer.from(`#!${interpreter}`)).toString(), `#!/bin/sh\n'''exec' "${interpreter}" "$0" "$@"\n' '''\n`);
  });

  test("fixShebang leaves a long non-python shebang unchanged", () => {
    const input = Buffer.from(`#!${longDir}/bin/bash\necho hi\n`);
    assert.equal(fixShebang(input), input);
  });

  test("fixShebang leaves an env shebang unchanged", () => {
    const input = Buffer.from("#!/usr/bin/env python3\nprint(1)\n");
    assert.equal(fixShebang(input), input);
  });

  describe("a rewritten script runs", () => {
    let temp = "";
    let realPython = "";

    before(async () => {
      temp = await makeTempDir("pypakr-unit-shebang-");
      // python3 may be a wrapper (pyenv shim) that does not survive being symlinked; ask for the real binary.
      const probe = spawnSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" });
      assert.equal(probe.status, 0, probe.stderr);
      realPython = probe.stdout.trim();
    });

    after(async () => {
      await removeDir(temp);
    });

    for (const [label, dirName] of [
      ["a long directory", `${"long-".repeat(30)}venv`],
      ["a long directory with a space", `${"long-".repeat(30)}my venv`],
    ] as const) {
      test(`fixShebang makes a script whose python lives in ${label} runnable with /bin/sh and directly`, async () => {
        const bin = path.join(temp, dirName, "bin");
        await fs.mkdir(bin, { recursive: true });
        const python = path.join(bin, "python");
        await fs.symlink(realPython, python);
        assert.ok(`#!${python}`.length > 127);
        const script = path.join(bin, "hello");
        const original = `#!${python}\nimport sys\nprint("hello from", sys.argv[1:])\n`;
        const fixed = fixShebang(Buffer.from(original));
        assert.notEqual(fixed.toString(), original);
        await fs.writeFile(script, fixed, { mode: 0o755 });

        const viaSh = spawnSync("/bin/sh", [script, "one", "two words"], { encoding: "utf8" });
        assert.equal(viaSh.status, 0, viaSh.stderr);
        assert.equal(viaSh.stdout, "hello from ['one', 'two words']\n");

        const direct = spawnSync(script, ["x"], { encoding: "utf8" });
        assert.equal(direct.status, 0, direct.stderr);
        assert.equal(direct.stdout, "hello from ['x']\n");
      });
    }
  });
});

describe("canonicalShebang", () => {
  const names = new Set(["python", "python3", "python3.11", "pypy3"]);
  const canonical = `#!${PLACEHOLDER}/bin/python\nimport sys\n`;

  for (const name of names) {
    test(`canonicalShebang turns #!PREFIX/bin/${name} into #!PREFIX/bin/python`, () => {
      assert.equal(canonicalShebang(Buffer.from(`#!${PLACEHOLDER}/bin/${name}\nimport sys\n`), PLACEHOLDER, names).toString(), canonical);
    });
  }

  test("canonicalShebang keeps the interpreter's flags", () => {
    assert.equal(canonicalShebang(Buffer.from(`#!${PLACEHOLDER}/bin/python3 -E -s\nx\n`), PLACEHOLDER, names).toString(), `#!${PLACEHOLDER}/bin/python -E -s\nx\n`);
  });

  test("canonicalShebang undoes pip's /bin/sh form, quoted or not, with or without flags", () => {
    for (const interpreter of [`"${PLACEHOLDER}/bin/python3"`, `${PLACEHOLDER}/bin/python3.11`]) {
      const plain = `#!/bin/sh\n'''exec' ${interpreter} "$0" "$@"\n' '''\nimport sys\n`;
      assert.equal(canonicalShebang(Buffer.from(plain), PLACEHOLDER, names).toString(), canonical);
      const flagged = `#!/bin/sh\n'''exec' ${interpreter} -E "$0" "$@"\n' '''\nimport sys\n`;
      assert.equal(canonicalShebang(Buffer.from(flagged), PLACEHOLDER, names).toString(), `#!${PLACEHOLDER}/bin/python -E\nimport sys\n`);
    }
  });

  test("canonicalShebang's form becomes, in a long or spaced path, the line fixShebang writes for it", () => {
    const long = `/${"long-".repeat(30)}my venv`;
    const placeheld = replaceAll(fixShebang(Buffer.from(`#!${long}/bin/python3\nimport sys\n`)), long, PLACEHOLDER);
    const stored = canonicalShebang(placeheld, PLACEHOLDER, names);
    assert.equal(stored.toString(), canonical);
    assert.equal(relocateContent(stored, "text", PLACEHOLDER, long).toString(), fixShebang(Buffer.from(`#!${long}/bin/python\nimport sys\n`)).toString());
  });

  test("canonicalShebang leaves alone other interpreters, other envs, env shebangs, non-scripts and binary files", () => {
    for (const text of [
      `#!${PLACEHOLDER}/bin/ruby\nputs 1\n`,
      `#!${PLACEHOLDER}/bin/pythonista\nx\n`,
      "#!/usr/bin/python3\nx\n",
      "#!/usr/bin/env python3\nx\n",
      `#!${PLACEHOLDER}/lib/python3\nx\n`,
      `VIRTUAL_ENV=${PLACEHOLDER}\n`,
      `#!/bin/sh\necho ${PLACEHOLDER}/bin/python3\n`,
    ]) {
      assert.equal(canonicalShebang(Buffer.from(text), PLACEHOLDER, names).toString(), text);
    }
    const binary = Buffer.concat([Buffer.from(`#!${PLACEHOLDER}/bin/python3\n`), NUL, Buffer.from("data")]);
    assert.equal(canonicalShebang(binary, PLACEHOLDER, names), binary);
  });

  test("canonicalShebang leaves a canonical script's bytes as they are", () => {
    const input = Buffer.from(canonical);
    assert.equal(canonicalShebang(input, PLACEHOLDER, names), input);
  });
});

describe("relocateContent", () => {
  test("relocateContent replaces the prefix everywhere in a text file", () => {
    const input = Buffer.from(`VIRTUAL_ENV="${PLACEHOLDER}"\nexport PATH="${PLACEHOLDER}/bin:$PATH"\n`);
    assert.equal(relocateContent(input, "text", PLACEHOLDER, "/opt/app").toString(), 'VIRTUAL_ENV="/opt/app"\nexport PATH="/opt/app/bin:$PATH"\n');
  });

  test("relocateContent may make a text file longer", () => {
    const to = `/${"x".repeat(PREFIX_LENGTH + 10)}`;
    assert.equal(relocateContent(Buffer.from(`home = ${PLACEHOLDER}\n`), "text", PLACEHOLDER, to).toString(), `home = ${to}\n`);
  });

  test("relocateContent keeps a short relocated shebang as a plain shebang", () => {
    const input = Buffer.from(`#!${PLACEHOLDER}/bin/python\nprint(1)\n`);
    assert.equal(relocateContent(input, "text", PLACEHOLDER, "/opt/app").toString(), "#!/opt/app/bin/python\nprint(1)\n");
  });

  test("relocateContent switches a shebang that became too long to the /bin/sh form", () => {
    const to = `/${"x".repeat(130)}`;
    const out = relocateContent(Buffer.from(`#!${PLACEHOLDER}/bin/python\nprint(1)\n`), "text", PLACEHOLDER, to).toString();
    assert.equal(out, `#!/bin/sh\n'''exec' "${to}/bin/python" "$0" "$@"\n' '''\nprint(1)\n`);
  });

  test("relocateContent treats binary files as C strings", () => {
    const input = cString(`${PLACEHOLDER}/lib`);
    const out = relocateContent(input, "binary", PLACEHOLDER, "/opt/app");
    assert.equal(out.length, input.length);
    assert.equal(out.subarray(0, "/opt/app/lib".length + 1).toString(), "/opt/app/lib\0");
    assert.ok(out.subarray("/opt/app/lib".length).every((byte) => byte === 0));
  });

  test("relocateContent refuses to lengthen a path in a binary file", () => {
    assert.throws(() => relocateContent(cString(PLACEHOLDER), "binary", PLACEHOLDER, `${PLACEHOLDER}/more`), RelocationError);
  });
});

describe("unsafePrefixReason", () => {
  test("unsafePrefixReason accepts ordinary paths, spaces and apostrophes included", () => {
    assert.equal(unsafePrefixReason("/opt/app"), null);
    assert.equal(unsafePrefixReason("/home/me/my venvs/app-1.0_x"), null);
    assert.equal(unsafePrefixReason("/tmp/bob's app"), null);
  });

  for (const [bad, named] of [['"', "double quote"], ["`", "backquote"], ["$", "dollar sign"], ["\\", "backslash"], ["\n", "line break"], ["\r", "carriage return"], ["\0", "NUL"]] as const) {
    test(`unsafePrefixReason refuses a prefix containing ${JSON.stringify(bad)}, naming it`, () => {
      const reason = unsafePrefixReason(`/opt/a${bad}b`);
      assert.ok(reason !== null);
      assert.ok(reason.includes(named), reason);
    });
  }
});

describe("relocateText quotes the new path where it stands", () => {
  const to = "/tmp/bob's app";
  const text = (value: string) => Buffer.from(value);
  const relocated = (value: string) => relocateText(text(value), PLACEHOLDER, to).toString();

  test("inside double quotes, in a shell script or not, the path goes in as it is", () => {
    assert.equal(relocated(`# This file must be used with "source bin/activate" *from bash*\nVIRTUAL_ENV="${PLACEHOLDER}"\n`), `# This file must be used with "source bin/activate" *from bash*\nVIRTUAL_ENV="${to}"\n`);
    assert.equal(relocated(`{"url": "file://${PLACEHOLDER}/src"}`), `{"url": "file://${to}/src"}`);
  });

  test("a bare word in a shell script (venv's shlex-quoted templates) is single-quoted, as shlex.quote does", () => {
    const script = `# This file must be used with "source bin/activate" *from bash*\nVIRTUAL_ENV=${PLACEHOLDER}\nexport VIRTUAL_ENV\n`;
    const out = relocated(script);
    assert.match(out, /VIRTUAL_ENV='\/tmp\/bob'"'"'s app'\n/);
  });

  test("inside '...' a shell script gets '\"'\"' and Python gets \\'", () => {
    assert.equal(relocated(`#!/bin/sh\nX='${PLACEHOLDER}/bin'\n`), `#!/bin/sh\nX='/tmp/bob'"'"'s app/bin'\n`);
    assert.equal(relocated(`MAPPING = {'pkg': '${PLACEHOLDER}/src/pkg'}\n`), `MAPPING = {'pkg': '/tmp/bob\\'s app/src/pkg'}\n`);
  });

  test("plain text (a .pth line, a comment) gets the path as it is; a plain path is a plain substitution", () => {
    assert.equal(relocated(`${PLACEHOLDER}/src\n`), `${to}/src\n`);
    assert.equal(relocated(`#!/bin/sh\n# made at ${PLACEHOLDER}\n`), `#!/bin/sh\n# made at ${to}\n`);
    assert.equal(relocateText(text(`X=${PLACEHOLDER}`), PLACEHOLDER, "/opt/app").toString(), "X=/opt/app");
  });

  test("in a shell script, a prefix venv spelled with shlex.quote is found and replaced whole, both ways", () => {
    const home = "/tmp/bob's home/bases/x";
    const script = `# This file must be used with "source bin/activate" *from bash*\nVIRTUAL_ENV='/tmp/bob'"'"'s home/bases/x'\n`;
    const normalized = relocateText(text(script), home, PLACEHOLDER).toString();
    assert.equal(normalized, `# This file must be used with "source bin/activate" *from bash*\nVIRTUAL_ENV=${PLACEHOLDER}\n`);
    assert.equal(relocateText(text(script), home, "/tmp/al's c").toString(), `# This file must be used with "source bin/activate" *from bash*\nVIRTUAL_ENV='/tmp/al'"'"'s c'\n`);
  });

  test("each quoted form runs: sh reads back the path, Python too", () => {
    const script = `# This file must be used with "source bin/activate" *from bash*\nA=${PLACEHOLDER}\nB='${PLACEHOLDER}'\nC="${PLACEHOLDER}"\nprintf '%s\\n' "$A" "$B" "$C"\n`;
    const sh = spawnSync("/bin/sh", ["-c", relocated(script)], { encoding: "utf8" });
    assert.equal(sh.stdout, `${to}\n${to}\n${to}\n`);
    const py = spawnSync("python3", ["-c", relocated(`print('${PLACEHOLDER}'); print("${PLACEHOLDER}")`)], { encoding: "utf8" });
    assert.equal(py.stdout, `${to}\n${to}\n`);
  });
});

describe("relocating a container's own files (pypakr relocate)", () => {
  const script = Buffer.from(`#!${PLACEHOLDER}/bin/python -E\nimport sys\nprint(sys.prefix)\n`);
  const long = `/srv/${"a-very-long-directory-name/".repeat(5)}c`;

  test("from a long path (re-exec form) to a short one gives what a fresh container there gets", () => {
    const atLong = relocateContent(script, "text", PLACEHOLDER, long);
    assert.ok(atLong.toString().startsWith("#!/bin/sh\n"), "the long path needed the re-exec form");
    assert.deepEqual(relocateFileContent(atLong, "text", long, "/c"), relocateContent(script, "text", PLACEHOLDER, "/c"));
    assert.deepEqual(unfixShebang(atLong, long).toString(), `#!${long}/bin/python -E\nimport sys\nprint(sys.prefix)\n`);
  });

  test("from a short path to a long one, and a path that starts with the old one, substitute once", () => {
    const atShort = relocateContent(script, "text", PLACEHOLDER, "/x/c");
    assert.deepEqual(relocateFileContent(atShort, "text", "/x/c", long), relocateContent(script, "text", PLACEHOLDER, long));
    assert.equal(relocateFileContent(atShort, "text", "/x/c", "/x/cc").toString(), "#!/x/cc/bin/python -E\nimport sys\nprint(sys.prefix)\n");
  });

  test("leaves a re-exec line for another interpreter alone", () => {
    const other = Buffer.from(`#!/bin/sh\n'''exec' "/opt/py/bin/python" "$0" "$@"\n' '''\nprint(1)\n`);
    assert.equal(unfixShebang(other, "/x/c"), other);
  });

  test("a binary file takes a path no longer than the one it holds", () => {
    const binary = relocateContent(Buffer.concat([Buffer.from(`a\0${PLACEHOLDER}/lib\0`)]), "binary", PLACEHOLDER, "/x/cc");
    assert.deepEqual(relocateFileContent(binary, "binary", "/x/cc", "/x/c"), relocateContent(Buffer.from(`a\0${PLACEHOLDER}/lib\0`), "binary", PLACEHOLDER, "/x/c"));
    assert.throws(() => relocateFileContent(binary, "binary", "/x/cc", "/x/ccc"), RelocationError);
  });
});
