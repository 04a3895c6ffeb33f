import assert from "node:assert/strict";
import { Readable, Transform } from "node:stream";
import { describe, test } from "node:test";
import * as zlib from "node:zlib";
import tar from "tar-stream";
import { MAX_METADATA_BYTES, readLayerMetadata } from "../../../src/sbom/index.js";

const ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd" as const;
const GZIP = "application/vnd.oci.image.layer.v1.tar+gzip" as const;
const SITE = "lib/python3.11/site-packages";

/** A layer's tar: the entries in order, as pypakr's layers hold a venv's files. */
async function layerTar(entries: Array<[string, string | Buffer]>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (chunk) => chunks.push(chunk as Buffer));
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const [name, body] of entries) {
    if (name.endsWith("/")) pack.entry({ name, type: "directory" });
    else pack.entry({ name }, typeof body === "string" ? Buffer.from(body) : body);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A ustar header that declares `size` bytes for a file that is not there: what a bomb or a lie in a header looks like. */
function lyingHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148);
  header.write("0", 156);
  header.write("ustar\0" + "00", 257);
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return header;
}

const compress = { [ZSTD]: (bytes: Buffer) => zlib.zstdCompressSync(bytes), [GZIP]: (bytes: Buffer) => zlib.gzipSync(bytes) };

/** Stream of `bytes` in small pieces, so the tar parser sees many chunks. */
function streamOf(bytes: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 4096) pieces.push(bytes.subarray(at, at + 4096));
  return Readable.from(pieces);
}

const FLASK_LAYER: Array<[string, string]> = [
  [`${SITE}/flask/`, ""],
  [`${SITE}/flask/__init__.py`, "x = 1\n"],
  [`${SITE}/flask-3.1.0.dist-info/`, ""],
  [`${SITE}/flask-3.1.0.dist-info/RECORD`, "flask/__init__.py,,\n"],
  [`${SITE}/flask-3.1.0.dist-info/METADATA`, "Metadata-Version: 2.4\nName: Flask\nVersion: 3.1.0\nLicense-Expression: BSD-3-Clause\nRequires-Python: >=3.9\n\nLong description\n"],
  ["bin/flask", "#!/bin/sh\n"],
];

describe("readLayerMetadata", () => {
  for (const mediaType of [ZSTD, GZIP]) {
    test(`finds the distribution's METADATA in a ${mediaType.split("+")[1]} layer`, async () => {
      const layer = compress[mediaType](await layerTar(FLASK_LAYER));
      const metadata = await readLayerMetadata(streamOf(layer), mediaType, layer.length);
      assert.equal(metadata?.licenseExpression, "BSD-3-Clause");
      assert.equal(metadata?.requiresPython, ">=3.9");
    });
  }

  test("null for a layer without METADATA (the app-files layer); a plain tar layer reads too", async () => {
    const layer = compress[ZSTD](await layerTar([["app/README.txt", "hi\n"], [`${SITE}/x.dist-info/RECORD`, ""]]));
    assert.equal(await readLayerMetadata(streamOf(layer), ZSTD), null);
    const plain = await layerTar(FLASK_LAYER);
    assert.equal((await readLayerMetadata(streamOf(plain), "application/vnd.oci.image.layer.v1.tar"))?.licenseExpression, "BSD-3-Clause");
  });

  test("reads at most 1 MiB of a huge METADATA, and the rest of the layer after it", async () => {
    const huge = Buffer.concat([Buffer.from("License: MIT\nSummary: big\n\n"), Buffer.alloc(3 * MAX_METADATA_BYTES, "x")]);
    const layer = compress[ZSTD](await layerTar([[`${SITE}/big-1.dist-info/METADATA`, huge], ["bin/after", "after\n"]]));
    let read = 0;
    const counted = streamOf(layer).on("data", (chunk: Buffer) => (read += chunk.length));
    const metadata = await readLayerMetadata(counted, ZSTD, layer.length);
    assert.equal(metadata?.license, "MIT");
    assert.equal(read, layer.length, "the whole stream was consumed");
  });

  test("a stream that fails at its end (a digest mismatch found by a verifying reader) fails the read, though METADATA came first", async () => {
    const layer = compress[ZSTD](await layerTar(FLASK_LAYER));
    const verifying = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => callback(null, chunk),
      flush: (callback) => callback(new Error("blob sha256:abc does not match its digest")),
    });
    await assert.rejects(readLayerMetadata(streamOf(layer).pipe(verifying), ZSTD, layer.length), /does not match its digest/);
  });

  test("damaged layers, bombs and non-tar media types are refused with pypakr errors", async () => {
    const layer = compress[ZSTD](await layerTar(FLASK_LAYER));
    await assert.rejects(readLayerMetadata(streamOf(layer.subarray(0, layer.length - 20)), ZSTD), (error: Error & { code?: string }) => error.code === "image-invalid");
    await assert.rejects(readLayerMetadata(streamOf(Buffer.from("not zstd at all")), ZSTD), (error: Error & { code?: string }) => error.code === "image-invalid");
    const bomb = compress[ZSTD](Buffer.concat([lyingHeader("zeros", 2 ** 33 - 1), Buffer.alloc(1024)]));
    await assert.rejects(readLayerMetadata(streamOf(bomb), ZSTD, bomb.length), (error: Error & { code?: string }) => error.code === "too-large");
    await assert.rejects(readLayerMetadata(streamOf(layer), "application/vnd.oci.image.config.v1+json"), (error: Error & { code?: string }) => error.code === "image-invalid");
  });
});
