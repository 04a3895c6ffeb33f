/**
 * SingleZstdFrame: passes one zstd frame through unchanged however it is
 * cut, and fails on what Node's decompressor would drop or choke on.
 */
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { constants, zstdCompressSync } from "node:zlib";
import { describe, test } from "node:test";
import { SingleZstdFrame } from "../../../src/util/zstd-frames.js";
import { zstdZeroBomb } from "../../fixtures/hostile.js";

/** Feeds `bytes` in pieces of `piece` bytes; resolves to what came out, or rejects with the walker's error. */
async function walk(bytes: Buffer, piece: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += piece) pieces.push(bytes.subarray(offset, offset + piece));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), new SingleZstdFrame(), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}

const text = Buffer.from("pypakr layer ".repeat(40_000) + "end");
const frames: Array<[string, Buffer]> = [
  ["a plain frame", zstdCompressSync(text)],
  ["a frame with a checksum", zstdCompressSync(text, { params: { [constants.ZSTD_c_checksumFlag]: 1 } })],
  ["a frame without its content size", zstdCompressSync(text, { params: { [constants.ZSTD_c_contentSizeFlag]: 0 } })],
  ["an empty frame", zstdCompressSync(Buffer.alloc(0))],
  ["a hand-made frame of raw and RLE blocks", zstdZeroBomb(2, 256 * 1024)],
];

describe("SingleZstdFrame", () => {
  for (const [name, frame] of frames) {
    test(`passes ${name} through unchanged, whole or a byte at a time`, async () => {
      assert.deepEqual(await walk(frame, frame.length), frame);
      assert.deepEqual(await walk(frame, 1), frame);
      assert.deepEqual(await walk(frame, 7), frame);
    });
  }

  test("refuses a second frame, naming where it starts", async () => {
    const first = zstdCompressSync(Buffer.from("seen"));
    await assert.rejects(walk(Buffer.concat([first, zstdCompressSync(Buffer.from("dropped"))]), 5), new RegExp(`more data after its zstd frame \\(at byte ${first.length}\\)`));
  });

  test("refuses a frame cut short, at any cut", async () => {
    const frame = zstdCompressSync(text, { params: { [constants.ZSTD_c_checksumFlag]: 1 } });
    for (const cut of [3, 6, frame.length >> 1, frame.length - 1]) {
      await assert.rejects(walk(frame.subarray(0, cut), 4), /ends in the middle of its frame/, `cut at ${cut}`);
    }
  });

  test("refuses what is not zstd, and a block of the reserved type", async () => {
    await assert.rejects(walk(Buffer.from("not zstd at all"), 16), /is not zstd data/);
    const reserved = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3, 0x07, 0x00, 0x00]);
    await assert.rejects(walk(reserved, 16), /reserved type/);
  });
});
