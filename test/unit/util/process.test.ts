import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { capture } from "../../../src/util/process.js";

describe("capture", () => {
  test("collects stdout, stderr and the exit code", async () => {
    const result = await capture("sh", ["-c", "echo out; echo err >&2; exit 3"]);
    assert.deepEqual(result, { code: 3, signal: null, stdout: "out\n", stderr: "err\n" });
  });

  test("gives the command its input on stdin, and no stdin without one", async () => {
    assert.equal((await capture("cat", [], { input: "secret\n" })).stdout, "secret\n");
    assert.equal((await capture("cat", [])).stdout, "");
  });

  test("a command that exits without reading its input is no failure", async () => {
    assert.equal((await capture("true", [], { input: "x".repeat(1 << 20) })).code, 0);
  });

  test("kills a command that outlives its timeout", async () => {
    const result = await capture("sleep", ["30"], { timeoutMs: 50 });
    assert.equal(result.signal, "SIGKILL");
  });

  test("rejects when the command cannot start", async () => {
    await assert.rejects(capture("pypakr-no-such-command-q", []), (error: NodeJS.ErrnoException) => error.code === "ENOENT");
  });
});

describe("capture with an output limit", () => {
  test("kills a command that prints past the limit, and says so", async () => {
    const result = await capture("sh", ["-c", "yes pypakr"], { maxOutputChars: 100_000, timeoutMs: 20_000 });
    assert.equal(result.overflowed, true);
    assert.equal(result.signal, "SIGKILL");
    assert.ok(result.stdout.length <= 100_000);
  });

  test("output within the limit is whole, and not marked", async () => {
    const result = await capture("sh", ["-c", "printf 12345; printf 678 >&2"], { maxOutputChars: 8 });
    assert.deepEqual(result, { code: 0, signal: null, stdout: "12345", stderr: "678" });
  });
});
