/**
 * Error codes are a contract with scripts (`--json` prints them): the table in
 * src/util/errors.ts, the list in docs/ERRORS.md and the codes src/ raises
 * must stay the same set, so a code is never raised undocumented, documented
 * but dead, or renamed by accident.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ERROR_CODES, PypakrError, isErrno, usageError, USAGE_EXIT_CODE } from "../../../src/util/errors.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(full)));
    else if (entry.name.endsWith(".ts")) files.push(full);
  }
  return files;
}

/** The rows of docs/ERRORS.md's code table: code -> meaning. */
async function documentedCodes(): Promise<Map<string, string>> {
  const text = await fs.readFile(path.join(repo, "docs", "ERRORS.md"), "utf8");
  const rows = new Map<string, string>();
  for (const match of text.matchAll(/^\| `([^`]+)` \| (.*?) \| (.*) \|$/gm)) {
    assert.ok(!rows.has(match[1] ?? ""), `docs/ERRORS.md lists ${match[1]} twice`);
    assert.ok((match[3] ?? "").trim() !== "", `docs/ERRORS.md gives ${match[1]} no typical fix`);
    rows.set(match[1] ?? "", match[2] ?? "");
  }
  return rows;
}

describe("error codes", () => {
  test("docs/ERRORS.md lists exactly the codes of ERROR_CODES, with the same meanings", async () => {
    const documented = await documentedCodes();
    assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_CODES).sort());
    for (const [code, meaning] of Object.entries(ERROR_CODES)) assert.equal(documented.get(code), meaning, `meaning of ${code}`);
  });

  test("every code of the table is raised somewhere in src/, and src/ names no code outside it", async () => {
    // The type system already refuses an unknown code in `code: "..."`; this catches the dead ones, and
    // codes written where the type does not reach (a comparison such as `error.code === "..."`).
    const raised = new Set<string>();
    const compared = new Set<string>();
    for (const file of await sourceFiles(path.join(repo, "src"))) {
      if (file.endsWith(path.join("util", "errors.ts"))) continue;
      const text = await fs.readFile(file, "utf8");
      for (const match of text.matchAll(/\bcode: ([^,}\n]+)/g)) for (const literal of (match[1] ?? "").matchAll(/"([a-z-]+)"/g)) raised.add(literal[1] ?? "");
      for (const match of text.matchAll(/usageError\("([a-z-]+)"/g)) raised.add(match[1] ?? "");
      for (const match of text.matchAll(/\.code (?:===|!==) "([a-z-]+)"/g)) compared.add(match[1] ?? "");
    }
    const known = new Set(Object.keys(ERROR_CODES));
    // Node.js system error codes are upper case (ENOENT) and never match the kebab-case pattern above.
    assert.deepEqual([...raised].filter((code) => !known.has(code)), [], "codes raised in src/ but not in ERROR_CODES");
    assert.deepEqual([...compared].filter((code) => !known.has(code)), [], "codes compared in src/ but not in ERROR_CODES");
    assert.deepEqual([...known].filter((code) => !raised.has(code)), [], "codes in ERROR_CODES that nothing in src/ raises");
  });

  test("codes are kebab-case, so none can pass for a Node.js system error code", () => {
    for (const code of Object.keys(ERROR_CODES)) assert.match(code, /^[a-z]+(-[a-z]+)*$/);
    assert.equal(isErrno(new PypakrError("x", { code: "write-failed" }), "ENOENT"), false);
  });

  test("a usage error carries its code and the usage exit code", () => {
    const error = usageError("bad-reference", "nope", "fix it");
    assert.equal(error.code, "bad-reference");
    assert.equal(error.exitCode, USAGE_EXIT_CODE);
    assert.equal(error.hint, "fix it");
  });
});
