/**
 * With --json, a failing command's error is one JSON document on stderr with
 * its stable code (docs/ERRORS.md), and stdout stays empty; without --json
 * the same error is the usual two text lines. Exit codes do not change.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { expectCleanFailure, makeTempDir, pypakr, removeDir, type CliResult } from "../support/helpers.js";

interface JsonError {
  error: { code: string; message: string; hint: string | null };
}

function jsonError(result: CliResult): JsonError["error"] {
  assert.equal(result.stdout, "", "stdout carries results only");
  const parsed = JSON.parse(result.stderr) as JsonError;
  assert.deepEqual(Object.keys(parsed), ["error"]);
  assert.deepEqual(Object.keys(parsed.error).sort(), ["code", "hint", "message"]);
  return parsed.error;
}

describe("errors of commands run with --json", () => {
  let dir: string;
  let home: string;
  before(async () => {
    dir = await makeTempDir("pypakr-json-errors-");
    home = path.join(dir, "home");
  });
  after(async () => {
    await removeDir(dir);
  });

  test("inspect of an image the store lacks: image-not-found as JSON on stderr, exit 1", async () => {
    const result = await pypakr(["inspect", "nosuch:1", "--json"], { home });
    assert.equal(result.code, 1);
    const error = jsonError(result);
    assert.equal(error.code, "image-not-found");
    assert.match(error.message, /no image "nosuch:1" in the store/);
    assert.match(error.hint ?? "", /pypakr images/);
    // The same failure without --json keeps its text form.
    const text = await pypakr(["inspect", "nosuch:1"], { home });
    assert.equal(text.code, 1);
    expectCleanFailure(text, /pypakr: error: no image "nosuch:1" in the store/);
  });

  test("verify of a directory that is no container: not-a-container", async () => {
    const missing = path.join(dir, "no-container");
    const error = jsonError(await pypakr(["verify", "-c", missing, "--json"], { home }));
    assert.equal(error.code, "not-a-container");
    assert.equal(error.message, `${missing} does not exist`);
  });

  test("a usage error found while options are read, before --json is: still JSON, exit 2", async () => {
    const result = await pypakr(["create-image", "--env", "NOVALUE", "--json"], { home });
    assert.equal(result.code, 2);
    const error = jsonError(result);
    assert.equal(error.code, "usage");
    assert.equal(error.message, '--env "NOVALUE" is not KEY=VALUE');
    assert.equal(error.hint, "Write it as --env NAME=value.");
  });
});
