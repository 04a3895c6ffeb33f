/**
 * The one door into the store (util/blob-writer.ts writes, store/ingest.ts commits): bytes are hashed and counted
 * as written, an overlong stream is cut off before its extra byte lands, and
 * a commit refuses bytes that are not the descriptor's blob, keeps a blob
 * already present, and leaves no temp file either way.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { BlobMismatchError, commitBlob } from "../../../src/store/ingest.js";
import { BlobWriter, OverlongBlobError, writeBlob } from "../../../src/util/blob-writer.js";
import { sha256Digest } from "../../../src/util/hash.js";

describe("store ingest", () => {
  let dir: string;
  let n = 0;
  const fresh = () => path.join(dir, `file-${++n}`);
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-ingest-"));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test("a commit checks digest and size, then moves the file into place", async () => {
    const bytes = Buffer.from("hello blob");
    const writer = await BlobWriter.create(fresh(), { expectedSize: bytes.length });
    await writer.writeAll(Readable.from([bytes.subarray(0, 4), bytes.subarray(4)]));
    const target = fresh();
    await commitBlob(await writer.finish(), { digest: sha256Digest(bytes), size: bytes.length }, target);
    assert.deepEqual(await fs.readFile(target), bytes);
    assert.equal(await fs.stat(writer.file).catch(() => null), null, "the temp file is gone");
  });

  test("a create refuses a file that is already there", async () => {
    const file = fresh();
    await fs.writeFile(file, "x");
    await assert.rejects(BlobWriter.create(file), /EEXIST/);
  });

  test("an overlong stream is cut off before the byte too many is written", async () => {
    const writer = await BlobWriter.create(fresh(), { expectedSize: 5 });
    await writer.write(Buffer.from("abc"));
    await assert.rejects(writer.write(Buffer.from("def")), OverlongBlobError);
    const written = await writer.finish();
    assert.equal(written.size, 3);
    assert.equal((await fs.readFile(written.file)).toString(), "abc");
    await writer.abort();
    assert.equal(await fs.stat(written.file).catch(() => null), null);
  });

  test("a commit refuses the wrong size or digest and removes the temp file", async () => {
    const bytes = Buffer.from("some bytes");
    for (const expected of [
      { digest: sha256Digest(bytes), size: bytes.length + 1 },
      { digest: sha256Digest("other bytes"), size: bytes.length },
    ]) {
      const written = await writeBlob(fresh(), bytes);
      const target = fresh();
      await assert.rejects(commitBlob(written, expected, target), BlobMismatchError);
      assert.equal(await fs.stat(target).catch(() => null), null, "nothing is stored");
      assert.equal(await fs.stat(written.file).catch(() => null), null, "the temp file is gone");
    }
  });

  test("a blob already present is never replaced", async () => {
    const bytes = Buffer.from("the blob");
    const target = fresh();
    await fs.writeFile(target, bytes);
    const before = await fs.stat(target);
    const written = await writeBlob(fresh(), bytes);
    await commitBlob(written, { digest: sha256Digest(bytes), size: bytes.length }, target);
    assert.equal((await fs.stat(target)).ino, before.ino);
    assert.equal(await fs.stat(written.file).catch(() => null), null);
  });

  test("a resumed writer hashes what is there, and starts over when it is longer than the blob", async () => {
    const bytes = Buffer.from("0123456789");
    const file = fresh();
    await fs.writeFile(file, bytes.subarray(0, 4));
    const writer = await BlobWriter.resume(file, bytes.length);
    assert.equal(writer.size, 4);
    await writer.write(bytes.subarray(4));
    assert.equal((await writer.finish()).digest, sha256Digest(bytes));

    await fs.writeFile(file, Buffer.concat([bytes, bytes]));
    const again = await BlobWriter.resume(file, bytes.length);
    assert.equal(again.size, 0);
    await again.write(bytes);
    const written = await again.finish();
    assert.equal(written.digest, sha256Digest(bytes));
    assert.equal((await fs.readFile(file)).length, bytes.length);
  });
});
