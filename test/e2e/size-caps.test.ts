/**
 * An image file's manifest and config are read whole into memory, so they
 * are capped as pulls cap them (MAX_MANIFEST_BYTES, MAX_CONFIG_BYTES): a
 * descriptor naming more is refused before a byte of it is read. A 240 MB
 * config in a 244 KiB .tar.gz once took 570 MB of memory to refuse.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, test } from "node:test";
import { imageArchive, type Context } from "../fixtures/hostile.js";
import { tarOf } from "../support/tar.js";
import { CLI, cliEnv, type CliResult, expectCleanFailure, expectOk, listTree, pypakr, usePrivateHome } from "../support/helpers.js";
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from "../../src/image/media-types.js";

/** Any well-formed interpreter: these images are refused before a base is looked for. */
const CONTEXT: Context = { python: { implementation: "cpython", version: "3.11.2", abiFlags: "", soabi: "cpython-311-x86_64-linux-gnu", os: "linux", machine: "x86_64", libc: "glibc", libcVersion: "2.36" } };
const PADDED_BYTES = 32 << 20;
/**
 * Loading a small image peaks at about 60 MB, refusing this one at about 80
 * MB (measured on Node 20); reading the padded config whole, as pypakr did,
 * peaked at 180 MB (the bytes, the string, the parse).
 */
const MAX_PEAK_RSS_KB = 125 * 1024;
const TIME = "/usr/bin/time";

interface Measured extends CliResult {
  peakRssKb: number;
  ms: number;
}

/** Runs the CLI and measures its peak memory: GNU time's %M when present, else VmHWM sampled from /proc. */
function measured(args: string[], home: string): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const useTime = existsSync(TIME);
    const child = useTime
      ? spawn(TIME, ["-f", "peak-rss-kb=%M", CLI, ...args], { env: cliEnv({ home }), stdio: ["ignore", "pipe", "pipe"] })
      : spawn(CLI, args, { env: cliEnv({ home }), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let sampled = 0;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const sampler = setInterval(() => {
      void fs
        .readFile(`/proc/${child.pid}/status`, "utf8")
        .then((status) => (sampled = Math.max(sampled, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0))))
        .catch(() => undefined);
    }, 10);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearInterval(sampler);
      const reported = /peak-rss-kb=(\d+)\n?$/.exec(stderr);
      if (reported) stderr = stderr.slice(0, reported.index);
      resolve({ code, signal, stdout, stderr, peakRssKb: reported ? Number(reported[1]) : sampled, ms: Date.now() - started });
    });
  });
}

describe("image files: manifest and config size caps", () => {
  const own = usePrivateHome();

  const layer = () => tarOf([{ name: "app/", type: "directory" }, { name: "app/hello.txt", body: "hello\n" }], { gzip: true });

  test("a 32 MiB config, 33 KiB gzipped, is refused quickly and without reading it into memory", async () => {
    const file = path.join(own.dir, "padded-config.tar.gz");
    await fs.writeFile(file, gzipSync(imageArchive(CONTEXT, [layer()], { config: (config) => void ((config as Record<string, unknown>).padding = " ".repeat(PADDED_BYTES)) })));
    assert.ok((await fs.stat(file)).size < 256 * 1024);
    const result = await measured(["load", "-i", file], own.home);
    expectCleanFailure(result, new RegExp(`is not a usable pypakr image: its config sha256:[0-9a-f]{64} is \\d+ bytes, more than a pypakr config can be \\(${MAX_CONFIG_BYTES} bytes\\)`));
    assert.ok(result.peakRssKb > 0, "peak memory was measured");
    assert.ok(result.peakRssKb < MAX_PEAK_RSS_KB, `peak RSS ${result.peakRssKb} kB`);
    assert.ok(result.ms < 20_000, `took ${result.ms} ms`);
    assert.deepEqual(await listTree(path.join(own.home, "store", "blobs", "sha256")), [], "nothing entered the store");
  });

  test("a 5 MiB manifest is refused the same way", async () => {
    const file = path.join(own.dir, "padded-manifest.tar.gz");
    await fs.writeFile(file, gzipSync(imageArchive(CONTEXT, [layer()], { manifest: (manifest) => void ((manifest as Record<string, unknown>).padding = " ".repeat(5 << 20)) })));
    const result = await measured(["load", "-i", file], own.home);
    expectCleanFailure(result, new RegExp(`its manifest sha256:[0-9a-f]{64} is \\d+ bytes, more than a pypakr manifest can be \\(${MAX_MANIFEST_BYTES} bytes\\)`));
  });

  test("a config just under the cap still loads", async () => {
    const file = path.join(own.dir, "big-config.tar.gz");
    // What is left under the cap once the rest of the config is written.
    await fs.writeFile(file, gzipSync(imageArchive(CONTEXT, [layer()], { config: (config) => void ((config as Record<string, unknown>).padding = " ".repeat(MAX_CONFIG_BYTES - 4096)) })));
    expectOk(await pypakr(["load", "-i", file], { home: own.home }), "load");
  });
});
