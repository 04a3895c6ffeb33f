/**
 * Where an instance's cgroups go (src/sandbox/cgroup-paths.ts): below our own
 * cgroup, in whichever layout the host has. Only the v1 hybrid is on the
 * machine the integration tests run on; the other layouts are pinned here.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cgroupParents } from "../../../src/sandbox/cgroup-paths.js";

// This machine's (Debian 12 in a workplace container): v1 controllers, a cgroup2 with only hugetlb at unified/.
const HYBRID_MOUNTS = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;
const HYBRID_OWN = `9:name=systemd:/
8:pids:/
4:memory:/process_api/8398a39aea76ed84ab8cb16d28279e0c
1:cpu:/
0::/`;

// A systemd host with only cgroup2, running in a user's delegated service.
const V2_MOUNTS = `25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;
const V2_OWN = `0::/user.slice/user-1000.slice/user@1000.service/app.slice/pypakr.service`;

describe("an instance's cgroup parents", () => {
  test("v1 hybrid: each controller's own directory below our cgroup (memory nested, pids at the root here)", () => {
    assert.deepEqual(cgroupParents(HYBRID_MOUNTS, HYBRID_OWN, 1), {
      version: 1,
      memory: "/sys/fs/cgroup/memory/process_api/8398a39aea76ed84ab8cb16d28279e0c",
      pids: "/sys/fs/cgroup/pids",
    });
  });

  test("v2: our unified cgroup's directory", () => {
    const dir = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/pypakr.service";
    assert.deepEqual(cgroupParents(V2_MOUNTS, V2_OWN, 2), { version: 2, memory: dir, pids: dir });
    assert.equal(cgroupParents(V2_MOUNTS, V2_OWN, 1), null, "no v1 hierarchy on a v2-only host");
  });

  test("v2 in the hybrid is found at unified/ (detection then finds it without memory and pids)", () => {
    assert.deepEqual(cgroupParents(HYBRID_MOUNTS, HYBRID_OWN, 2), { version: 2, memory: "/sys/fs/cgroup/unified", pids: "/sys/fs/cgroup/unified" });
  });

  test("a mount of part of the hierarchy (a container's): paths are taken relative to the mount's root", () => {
    const mounts = `35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
39 31 0:36 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids`;
    const own = `8:pids:/docker/abc/worker\n4:memory:/docker/abc`;
    assert.deepEqual(cgroupParents(mounts, own, 1), { version: 1, memory: "/sys/fs/cgroup/memory", pids: "/sys/fs/cgroup/pids/worker" });
    // Our cgroup outside what is mounted: no directory to write, rather than a guess.
    assert.equal(cgroupParents(mounts, `8:pids:/other\n4:memory:/docker/abc`, 1), null);
  });

  test("mount points with escaped spaces are read back, and joint controllers (cpu,memory) are found", () => {
    const mounts = `35 31 0:32 / /sys/fs/my\\040cgroups/memory rw - cgroup cgroup rw,cpu,memory
39 31 0:36 / /sys/fs/my\\040cgroups/pids rw - cgroup cgroup rw,pids`;
    const own = `4:cpu,memory:/a\n8:pids:/a`;
    assert.deepEqual(cgroupParents(mounts, own, 1), { version: 1, memory: "/sys/fs/my cgroups/memory/a", pids: "/sys/fs/my cgroups/pids/a" });
  });

  test("no cgroup mount or no line for us: none", () => {
    assert.equal(cgroupParents("", HYBRID_OWN, 1), null);
    assert.equal(cgroupParents(HYBRID_MOUNTS, "", 1), null);
    assert.equal(cgroupParents(HYBRID_MOUNTS, "4:memory:/x", 1), null, "memory without pids is not enough");
  });
});
