/**
 * Tag diffs (src/hub/diff.ts): distributions matched by PEP 503 name, a
 * changed version named an upgrade or a downgrade by PEP 440 order (not by
 * string order), and every list sorted by name.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { diffTags } from "../../../src/hub/diff.js";
import { ordinaryTag, pypakrTag } from "../../support/hub-tags.js";

describe("diffTags", () => {
  test("added, removed, upgraded, downgraded, changed and unchanged, by PEP 503 name and PEP 440 order", () => {
    const from = pypakrTag("team/app", "1", ["Flask==2.9.0", "Flask_Login==0.6.3", "click==8.1.7", "gone==1.0", "odd==weird-1", "same==1.0", "rc==2.0rc1"]);
    const to = pypakrTag("team/app", "2", ["flask==2.10.0", "flask-login==0.6.3", "click==8.1.6", "new==0.1", "odd==weird-2", "same==1.0.0", "rc==2.0"]);
    assert.deepEqual(diffTags(from, to), {
      repository: "team/app",
      from: "1",
      to: "2",
      added: [{ name: "new", version: "0.1" }],
      removed: [{ name: "gone", version: "1.0" }],
      changed: [
        { name: "click", from: "8.1.7", to: "8.1.6", direction: "downgraded" },
        // 2.10 is later than 2.9 by PEP 440, earlier as a string.
        { name: "flask", from: "2.9.0", to: "2.10.0", direction: "upgraded" },
        { name: "odd", from: "weird-1", to: "weird-2", direction: "changed" },
        { name: "rc", from: "2.0rc1", to: "2.0", direction: "upgraded" },
        // Equal by PEP 440, written differently.
        { name: "same", from: "1.0", to: "1.0.0", direction: "changed" },
      ],
      unchanged: [{ name: "flask-login", version: "0.6.3" }],
    });
  });

  test("a tag against itself has only unchanged distributions; an ordinary image has none", () => {
    const tag = pypakrTag("team/app", "1", ["b==1", "a==2"]);
    assert.deepEqual(diffTags(tag, tag), { repository: "team/app", from: "1", to: "1", added: [], removed: [], changed: [], unchanged: [{ name: "a", version: "2" }, { name: "b", version: "1" }] });
    const ordinary = ordinaryTag("team/app", "base");
    assert.deepEqual(diffTags(ordinary, tag).added, [{ name: "a", version: "2" }, { name: "b", version: "1" }]);
    assert.deepEqual(diffTags(tag, ordinary).removed, [{ name: "a", version: "2" }, { name: "b", version: "1" }]);
  });

  test("hostile names and versions come back verbatim; a name listed twice counts once", () => {
    const from = pypakrTag("team/app", "1", ["<script>==1", "dup==1", "Dup==2"]);
    const to = pypakrTag("team/app", "2", ["<script>==\"2'"]);
    const diff = diffTags(from, to);
    assert.deepEqual(diff.changed, [{ name: "<script>", from: "1", to: "\"2'", direction: "changed" }]);
    assert.deepEqual(diff.removed, [{ name: "dup", version: "1" }]);
  });
});
