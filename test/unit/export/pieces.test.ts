/**
 * The parts of `pypakr export` that are pure: the entry point of the
 * exported config, the venv path's rules, pyvenv.cfg, the sandbox command
 * that asks a runtime's Python, and the match between an image's Python and
 * a runtime's.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { exportedEntrypoint } from "../../../src/export/config.js";
import { checkVenvPath } from "../../../src/export/export.js";
import { pyvenvConfig } from "../../../src/export/layers.js";
import { checkRuntimeMatches } from "../../../src/export/compatibility.js";
import type { RuntimePython } from "../../../src/export/runtime-python.js";
import { rootfsArgv } from "../../../src/sandbox/rootfs.js";
import type { Image } from "../../../src/image/index.js";
import { PypakrError } from "../../../src/util/errors.js";

const debian311: RuntimePython = {
  implementation: "cpython",
  version: "3.11.2",
  abiFlags: "",
  soabi: "cpython-311-x86_64-linux-gnu",
  os: "linux",
  machine: "x86_64",
  libc: "glibc",
  libcVersion: "2.36",
  executable: "/usr/bin/python3",
  tags: ["cp311-cp311-manylinux_2_36_x86_64", "cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-linux_x86_64", "cp311-abi3-manylinux_2_17_x86_64", "py3-none-any"],
};

/** Just what the check reads of an image. */
function imageNeeding(distributions: { name: string; version: string; wheelTags: string[] }[]): Image {
  const python = { implementation: "cpython", version: "3.11.7", abiFlags: "", soabi: "cpython-311-x86_64-linux-gnu", os: "linux", machine: "x86_64", libc: "glibc", libcVersion: "2.36" };
  return { source: "app:1", config: { pypakr: { python, distributions: distributions.map((d) => ({ ...d, layer: `sha256:${"0".repeat(64)}` })) } } } as unknown as Image;
}

function refused(pattern: RegExp) {
  return (error: unknown) => error instanceof PypakrError && error.code === "python-mismatch" && pattern.test(error.message);
}

describe("the exported entry point", () => {
  test("./run (also the default) and other relative words become the venv's files; names are found on PATH", () => {
    assert.deepEqual(exportedEntrypoint([], "/app/venv"), ["/app/venv/run"]);
    assert.deepEqual(exportedEntrypoint(["./run", "--port", "8080"], "/srv/v"), ["/srv/v/run", "--port", "8080"]);
    assert.deepEqual(exportedEntrypoint(["bin/serve"], "/app/venv"), ["/app/venv/bin/serve"]);
    assert.deepEqual(exportedEntrypoint(["gunicorn", "app:app"], "/app/venv"), ["gunicorn", "app:app"]);
    assert.deepEqual(exportedEntrypoint(["/usr/bin/env", "x"], "/app/venv"), ["/usr/bin/env", "x"]);
  });
});

describe("--venv", () => {
  test("takes a plain absolute path of the user's own", () => {
    assert.equal(checkVenvPath("/app/venv"), "/app/venv");
    assert.equal(checkVenvPath("/srv/app/venv/"), "/srv/app/venv");
  });
  for (const bad of ["app/venv", "/", "/app/../etc", "/usr/local/venv", "/tmp/v", "/proc/x", "/app/my venv", '/app/"v', "/app//venv"]) {
    test(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => checkVenvPath(bad),
        (error: unknown) => error instanceof PypakrError && error.code === "usage" && error.message.includes("--venv"),
      );
    });
  }
});

describe("pyvenv.cfg", () => {
  test("names the runtime's interpreter: home is its directory", () => {
    const text = pyvenvConfig("/app/venv", debian311);
    assert.match(text, /^home = \/usr\/bin$/m);
    assert.match(text, /^version = 3\.11\.2$/m);
    assert.match(text, /^include-system-site-packages = false$/m);
  });
});

describe("the runtime's Python against the image's", () => {
  test("the same kind, ABI and libc, with every wheel loadable, passes (the patch version may differ)", () => {
    checkRuntimeMatches(
      imageNeeding([
        { name: "markupsafe", version: "3.0", wheelTags: ["cp311-cp311-manylinux_2_17_x86_64"] },
        { name: "flask", version: "3.1", wheelTags: ["py3-none-any"] },
      ]),
      "rt",
      debian311,
    );
  });

  test("another minor version is refused, naming both", () => {
    const trixie = { ...debian311, version: "3.13.5", soabi: "cpython-313-x86_64-linux-gnu", libcVersion: "2.41" };
    assert.throws(() => checkRuntimeMatches(imageNeeding([]), "trixie-rt", trixie), refused(/runtime trixie-rt has CPython 3\.13\.5.*image app:1 needs CPython 3\.11/));
  });

  test("musl for a glibc image, or a wheel for a newer glibc, is refused", () => {
    assert.throws(() => checkRuntimeMatches(imageNeeding([]), "alpine", { ...debian311, libc: "", libcVersion: "" }), refused(/another C library/));
    const numpy = imageNeeding([{ name: "numpy", version: "2.3", wheelTags: ["cp311-cp311-manylinux_2_39_x86_64"] }]);
    assert.throws(() => checkRuntimeMatches(numpy, "rt", debian311), refused(/numpy 2\.3 was built for cp311-cp311-manylinux_2_39_x86_64/));
  });

  test("another machine is refused", () => {
    assert.throws(() => checkRuntimeMatches(imageNeeding([]), "arm", { ...debian311, machine: "aarch64", soabi: "cpython-311-aarch64-linux-gnu" }), refused(/another interpreter/));
  });
});

describe("the probe's sandbox", () => {
  test("binds the tree read-only as / with nothing of the host, drops root first, and puts helpers below the private /tmp", () => {
    const argv = rootfsArgv("/w/rootfs", ["python3", "-I", "-c", "x"], { PATH: "/usr/bin" }, { bwrap: "/usr/bin/bwrap", setpriv: "/usr/bin/setpriv" }, [{ host: "/w/probe", inside: "/tmp/pypakr-probe" }]);
    assert.equal(argv[0], "/usr/bin/setpriv");
    assert.ok(argv.includes("--inh-caps=-all") && argv.includes("--bounding-set=-all"));
    const joined = argv.join(" ");
    assert.match(joined, /--ro-bind \/w\/rootfs \/ /);
    assert.match(joined, /--unshare-all --unshare-user --disable-userns/);
    assert.match(joined, /--tmpfs \/tmp --ro-bind \/w\/probe \/tmp\/pypakr-probe/);
    assert.doesNotMatch(joined, /--bind \/usr|--ro-bind \/usr|--share-net/);
    assert.deepEqual(argv.slice(-4), ["python3", "-I", "-c", "x"]);
    const notRoot = rootfsArgv("/w/rootfs", ["python3"], {}, { bwrap: "/usr/bin/bwrap", setpriv: null });
    assert.equal(notRoot[0], "/usr/bin/bwrap");
    assert.throws(() => rootfsArgv("/w/rootfs", ["x"], {}, { bwrap: "b", setpriv: null }, [{ host: "/h", inside: "/etc/x" }]));
  });
});
