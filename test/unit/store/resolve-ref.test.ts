/**
 * One resolveRef for every command that names a stored image (store/images.ts
 * findImage): a tag, a name (meaning name:latest), a full digest with or
 * without `sha256:`, a unique digest prefix; and the errors for none, or
 * for a prefix that fits more than one image.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findImage, resolveRef } from "../../../src/store/images.js";
import { emptyIndex } from "../../../src/store/store.js";
import { PypakrError } from "../../../src/util/errors.js";

const A = `sha256:${"ab12".repeat(16)}` as const;
const B = `sha256:ab12${"f".repeat(60)}` as const;
const C = `sha256:${"c".repeat(64)}` as const;

const store = {
  readIndex: () =>
    Promise.resolve({
    ...emptyIndex(),
    images: { [A]: { stored: "2026-01-01" }, [B]: { stored: "2026-01-01" }, [C]: { stored: "2026-01-01" } },
    tags: { "app:1": A, "app:latest": B, "127.0.0.1:5000/team/app:2": C, "beef:latest": C },
    }),
};

function fails(code: string, message: RegExp) {
  return (error: unknown) => error instanceof PypakrError && error.code === code && message.test(error.message);
}

describe("resolveRef", () => {
  test("each form names its image, and says whether it named it by tag", async () => {
    const cases: [string, { digest: string; tag: string | null }][] = [
      ["app:1", { digest: A, tag: "app:1" }],
      ["app", { digest: B, tag: "app:latest" }],
      ["127.0.0.1:5000/team/app:2", { digest: C, tag: "127.0.0.1:5000/team/app:2" }],
      [A, { digest: A, tag: null }],
      [A.slice(7), { digest: A, tag: null }],
      [A.slice(7, 19), { digest: A, tag: null }],
      [`sha256:${A.slice(7, 19)}`, { digest: A, tag: null }],
      ["ab12a", { digest: A, tag: null }],
      // Hex that starts no digest can still be a tag.
      ["beef", { digest: C, tag: "beef:latest" }],
    ];
    for (const [ref, expected] of cases) {
      assert.deepEqual(await findImage(store, ref), expected, ref);
      assert.equal(await resolveRef(store, ref), expected.digest, ref);
    }
  });

  test("a bare 64-hex digest is the full digest, as rmi --help says", async () => {
    assert.equal(await resolveRef(store, C.slice(7)), C);
    await assert.rejects(resolveRef(store, "d".repeat(64)), fails("image-not-found", new RegExp(`^no image sha256:${"d".repeat(64)} in the store$`)));
  });

  test("a prefix of two digests is ambiguous; what names nothing is not found, a file too where the command takes one", async () => {
    await assert.rejects(resolveRef(store, "ab12"), fails("image-ambiguous", /^"ab12" matches 2 images$/));
    await assert.rejects(resolveRef(store, "sha256:ab12"), fails("image-ambiguous", /matches 2 images/));
    await assert.rejects(resolveRef(store, "ab12c"), fails("image-not-found", /^no image "ab12c" in the store$/));
    await assert.rejects(resolveRef(store, "app:2"), fails("image-not-found", /^no image "app:2" in the store$/));
    await assert.rejects(resolveRef(store, "app:2", { fileToo: true }), fails("image-not-found", /in the store, and no file by that name$/));
    await assert.rejects(resolveRef(store, `sha256:${"0".repeat(64)}`), fails("image-not-found", /in the store$/));
  });
});
