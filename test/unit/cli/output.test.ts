/**
 * The one output helper (src/cli/output.ts): --json prints the JSON document
 * alone on stdout; without it the text goes to stdout or the notice to
 * stderr; untrusted text comes out printable either way.
 */
import assert from "node:assert/strict";
import { describe, mock, test } from "node:test";
import { report } from "../../../src/cli/output.js";

/** What `print` wrote to stdout and stderr. */
function captured(print: () => void): { stdout: string; stderr: string } {
  const out = { stdout: "", stderr: "" };
  mock.method(process.stdout, "write", (chunk: string) => ((out.stdout += chunk), true));
  mock.method(process.stderr, "write", (chunk: string) => ((out.stderr += chunk), true));
  try {
    print();
  } finally {
    mock.restoreAll();
  }
  return out;
}

describe("report", () => {
  const result = { name: "app\u001b[31m", size: 3 };
  const presentation = { text: (r: typeof result) => `${r.name} is ${r.size} bytes\n`, notice: (r: typeof result) => `wrote ${r.name}` };

  test("--json: the result as one JSON document on stdout, nothing else", () => {
    const out = captured(() => report(result, { json: true }, presentation));
    assert.deepEqual(JSON.parse(out.stdout), result);
    assert.equal(out.stderr, "");
    assert.ok(!out.stdout.includes("\u001b"), "the escape is JSON-escaped, never raw");
  });

  test("--json with a shape: that document instead of the result", () => {
    const out = captured(() => report(result, { json: true }, { ...presentation, json: (r) => ({ size: r.size }) }));
    assert.equal(out.stdout, '{\n  "size": 3\n}\n');
  });

  test("without --json: the text on stdout, the notice on stderr, control characters shown escaped", () => {
    const out = captured(() => report(result, { json: false }, presentation));
    assert.equal(out.stdout, "app\\u001b[31m is 3 bytes\n");
    assert.equal(out.stderr, "pypakr: wrote app\\u001b[31m\n");
  });
});
