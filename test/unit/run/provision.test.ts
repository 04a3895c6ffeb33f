/**
 * Where `run -i IMAGE` keeps its container (run/provision.ts): the -c
 * directory when given, else one under pypakr's dir per image, named for the
 * argument's last name and the image's digest.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { containerName, runContainerDir } from "../../../src/run/provision.js";
import type { Config } from "../../../src/config/config.js";

const DIGEST = `sha256:0123456789ab${"f".repeat(52)}` as const;
const config: Config = { file: null, pypakrDir: "/home/u/.local/share/pypakr", basesDir: "/home/u/.local/share/pypakr/bases", python: "python3", limits: { layerEntries: 1, imageEntries: 1 } };

describe("run -i's container", () => {
  test("is named for the repository's or the file's last name", () => {
    const cases: [string, string][] = [
      ["127.0.0.1:5000/team/app:1", "app"],
      ["registry.example/app@sha256:" + "a".repeat(64), "app"],
      ["./images/jokes.tar", "jokes"],
      ["/tmp/jokes-1.2.tar.gz", "jokes-1.2"],
      ["app", "app"],
      ["we!rd$name:2", "werdname"],
      // A short digest or nothing readable names no image: "image"; a full one keeps its algorithm's name.
      [DIGEST, "sha256"],
      [DIGEST.slice(7, 19), "image"],
      ["!!!", "image"],
    ];
    for (const [arg, name] of cases) assert.equal(containerName(arg), name, arg);
  });

  test("lives under the pypakr dir, one per image, unless -c names the directory", () => {
    assert.equal(runContainerDir(config, "127.0.0.1:5000/team/app:1", DIGEST), "/home/u/.local/share/pypakr/containers/app-0123456789ab");
    assert.equal(runContainerDir(config, DIGEST.slice(7, 19), DIGEST), "/home/u/.local/share/pypakr/containers/image-0123456789ab");
    assert.equal(runContainerDir(config, "app:1", DIGEST, "/srv/cont"), "/srv/cont");
    assert.equal(runContainerDir(config, "app:1", DIGEST, "rel/cont"), `${process.cwd()}/rel/cont`);
  });
});
