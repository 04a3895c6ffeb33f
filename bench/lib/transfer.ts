/**
 * The registry figure: what pushing a second image costs on the wire when it
 * shares all but one distribution with an image the registry already holds.
 * Debian's docker-registry runs on 127.0.0.1 (the tests' harness starts it)
 * behind the tests' TCP proxy, so every byte pypakr sends is counted, HTTP
 * requests and headers as well as blob bodies, and compared with the sizes of
 * the layers the second image has and the first has not.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { REGISTRY_BINARY, startRegistry, startStoppingProxy } from "../../test/support/registry.js";
import type { FixtureSet } from "./fixtures.js";
import { compare, scratchOf, type Comparison } from "./measure.js";
import { CLI, GENERATOR } from "./paths.js";
import { benchEnv, run } from "./proc.js";

export interface TransferResult {
  comparison: Comparison;
  sizes: { transferSent: number; transferNewLayers: number };
  note: string;
}

/** The pushes run asynchronously: the counting proxy lives in this process's event loop. */
async function pypakrAsync(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await promisify(execFile)(CLI, args, { env, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

function layersOf(image: string, env: NodeJS.ProcessEnv): Map<string, number> {
  const inspected = JSON.parse(run({ cmd: CLI, args: ["inspect", "--json", image] }, env)) as { layers: { digest: string; size: number }[] };
  return new Map(inspected.layers.map((layer) => [layer.digest, layer.size]));
}

/** Image B: the set's requirements plus one more generated wheel (the next index, so a new name). */
function buildSecondImage(set: FixtureSet, python: string, env: NodeJS.ProcessEnv): string {
  const scratch = path.join(scratchOf(set), "transfer");
  const extraWheels = path.join(scratch, "extra-wheels");
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true });
  const count = String(set.wheelCount + 1);
  const summary = JSON.parse(run({ cmd: python, args: [GENERATOR, extraWheels, "--wheels", count, "--first", String(set.wheelCount)] })) as { names: string[] };
  const source = path.join(scratch, "src");
  fs.mkdirSync(source);
  const requirements = [...set.requirements, ...summary.names].map((name) => `'${name}'`).join(" ");
  fs.writeFileSync(path.join(source, "setup"), `#!/bin/sh\nset -e\nexec pip install --no-index --find-links '${set.wheelsDir}' --find-links '${extraWheels}' ${requirements}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(source, "app.txt"), "pypakr benchmark app\n");
  const image = path.join(scratch, "second.tar");
  run({ cmd: CLI, args: ["create-image", "-q", "-s", source, "-i", image] }, env);
  return image;
}

/** Null when docker-registry is not installed (the caller notes why the row is missing). */
export async function measureTransfer(set: FixtureSet, firstImage: string, python: string, log: (message: string) => void): Promise<TransferResult | null> {
  if (!fs.existsSync(REGISTRY_BINARY)) return null;
  const env = benchEnv(python);
  log(`${set.name} transfer: building a second image with one more distribution`);
  const secondImage = buildSecondImage(set, python, env);
  const registry = await startRegistry();
  // The tests' proxy, never told to stop: it counts every byte sent to the registry.
  const proxy = await startStoppingProxy(registry, () => false);
  try {
    const { host } = proxy;
    log(`${set.name} transfer: pushing both images to docker-registry on ${host}`);
    await pypakrAsync(["push", "-q", firstImage, `${host}/bench:first`], env);
    const before = proxy.bytesUp;
    const pushed = JSON.parse(await pypakrAsync(["push", "-q", "--json", secondImage, `${host}/bench:second`], env)) as { uploaded: number; skipped: number };
    const sent = proxy.bytesUp - before;
    const first = layersOf(firstImage, env);
    const newLayers = [...layersOf(secondImage, env)].filter(([digest]) => !first.has(digest));
    const newBytes = newLayers.reduce((sum, [, size]) => sum + size, 0);
    return {
      comparison: compare("push/new-layers", "push of an image sharing all but one distribution: bytes sent vs its new layers", "bytes", sent, newBytes, { metric: "ratio", op: "<=", value: 1.05 }),
      sizes: { transferSent: sent, transferNewLayers: newBytes },
      note: `push: the second image has ${newLayers.length} new layers (${newBytes} bytes); pypakr uploaded ${pushed.uploaded} blobs, skipped ${pushed.skipped}, and sent ${sent} bytes in all (requests, headers, config and manifest included).`,
    };
  } finally {
    await proxy.close();
    await registry.stop();
  }
}
