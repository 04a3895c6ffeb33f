import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { PypakrError, isErrno } from "../../../src/util/errors.js";
import { parseJson, readJson } from "../../../src/util/json.js";

const schema = z.object({ name: z.string(), size: z.number() });
const damage = { code: "store-damaged", hint: "Run pypakr store verify --repair." } as const;

describe("readJson", () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-json-"));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test("returns the checked document", async () => {
    const file = path.join(dir, "good.json");
    await fs.writeFile(file, JSON.stringify({ name: "a", size: 3, extra: true }));
    assert.deepEqual(await readJson(file, schema, damage), { name: "a", size: 3 });
  });

  test("a file that is not JSON is damaged, named with the fix", async () => {
    const file = path.join(dir, "truncated.json");
    await fs.writeFile(file, '{"name": "a", "si');
    await assert.rejects(readJson(file, schema, damage), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.equal(error.code, "store-damaged");
      assert.equal(error.message, `${file} is damaged (not JSON)`);
      assert.equal(error.hint, damage.hint);
      return true;
    });
  });

  test("a value of the wrong type is damaged, and the message names the field", async () => {
    const file = path.join(dir, "wrong.json");
    await fs.writeFile(file, JSON.stringify({ name: "a", size: "3" }));
    await assert.rejects(readJson(file, schema, damage), (error: unknown) => error instanceof PypakrError && /is damaged \(size: /.test(error.message));
  });

  test("a missing file is the system error, for the caller to say what absence means", async () => {
    await assert.rejects(readJson(path.join(dir, "absent.json"), schema, damage), (error: unknown) => isErrno(error, "ENOENT"));
  });

  test("the caller may word the message", () => {
    assert.throws(
      () => parseJson("[1]", z.array(z.string()), "tags", { code: "python-unusable", message: (detail) => `bad tags: ${detail}` }),
      (error: unknown) => error instanceof PypakrError && error.message === "bad tags: 0: Invalid input: expected string, received number",
    );
  });
});
