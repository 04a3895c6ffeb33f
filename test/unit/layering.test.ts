/**
 * The layering of src/ is enforced by the lint (eslint.config.js, LEVELS):
 * these run ESLint's own API with the project's config on snippets placed,
 * virtually, in src/, and show that an import going up, one against the
 * order within a level, and one reaching past a folder's face each fail,
 * for import declarations, re-exports and import() alike, while an import of
 * a lower folder's face passes.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";

/** The repository (this file runs as dist/test/unit/layering.test.js). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

// Type information is not what these rules need, and building the program for each snippet is slow.
const eslint = new ESLint({ cwd: ROOT, overrideConfig: tseslint.configs.disableTypeChecked });

const LAYERING_RULES = new Set(["no-restricted-imports", "no-restricted-syntax"]);

/** The layering complaints about `code` as if it were the file `file`. */
async function complaints(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  assert.ok(result, "ESLint lints the snippet");
  return result.messages.filter((message) => message.ruleId !== null && LAYERING_RULES.has(message.ruleId)).map((message) => message.message);
}

const UPWARD = /may import only/;
const PAST_FACE = /through its face/;

describe("the lint enforces src/'s layering", () => {
  test("an import of a higher folder fails (image/ sits below store/)", async () => {
    const found = await complaints("src/image/layering-probe.ts", 'import { Store } from "../store/index.js";\nexport const used = Store;\n');
    assert.equal(found.length, 1, found.join("\n"));
    assert.match(found[0] ?? "", UPWARD);
  });

  test("an import against the order within a level fails (python/ sits below image/, container/ below builder/)", async () => {
    assert.match((await complaints("src/python/layering-probe.ts", 'export { imageConfigSchema } from "../image/index.js";\n'))[0] ?? "", UPWARD);
    assert.match((await complaints("src/container/layering-probe.ts", 'import { createImage } from "../builder/index.js";\nexport const used = createImage;\n'))[0] ?? "", UPWARD);
  });

  test("an import that reaches past a folder's face fails, from any depth", async () => {
    assert.deepEqual(await complaints("src/store/layering-probe.ts", 'import { openImage } from "../image/reader.js";\nexport const used = openImage;\n').then((found) => found.map((text) => PAST_FACE.test(text))), [true]);
    assert.deepEqual(await complaints("src/image/extract/layering-probe.ts", 'import type { Interpreter } from "../../python/interpreter.js";\nexport type Used = Interpreter;\n').then((found) => found.map((text) => PAST_FACE.test(text))), [true]);
  });

  test("import() is held to the same rules (the CLI loads commands lazily)", async () => {
    const found = await complaints("src/cli/commands/layering-probe.ts", 'export async function probe(): Promise<unknown> {\n  return import("../../store/store.js");\n}\n');
    assert.equal(found.length, 1, found.join("\n"));
    assert.match(found[0] ?? "", PAST_FACE);
    const upward = await complaints("src/base/layering-probe.ts", 'export async function probe(): Promise<unknown> {\n  return import("../container/index.js");\n}\n');
    assert.ok(upward.some((text) => UPWARD.test(text)), upward.join("\n"));
  });

  test("a lower folder's face, util's files and the folder's own files pass", async () => {
    const code = [
      'import { imageConfigSchema } from "../image/index.js";',
      'import { interpreterKind } from "../python/index.js";',
      'import { METADATA_DIR } from "../layout/index.js";',
      'import { sha256Hex } from "../util/hash.js";',
      'import { Store } from "./store.js";',
      "export const used = [imageConfigSchema, interpreterKind, METADATA_DIR, sha256Hex, Store];",
      "",
    ].join("\n");
    assert.deepEqual(await complaints("src/store/layering-probe.ts", code), []);
  });

  test("tests may import any file of src/", async () => {
    assert.deepEqual(await complaints("test/unit/layering-probe.test.ts", 'import { openImage } from "../../src/image/reader.js";\nexport const used = openImage;\n'), []);
  });
});
