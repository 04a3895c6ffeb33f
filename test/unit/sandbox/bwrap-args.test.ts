/**
 * The sandbox's command line (src/sandbox/bwrap-args.ts), read bind by bind:
 * what the app sees is exactly what these arguments name, so a bind that
 * slips in (the store, /root) or a parent made 0700 shows up here first.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { identityFiles, sandboxArgv, type SandboxCommand } from "../../../src/sandbox/bwrap-args.js";
import { checkSpec } from "../../../src/sandbox/spec.js";
import type { SandboxSpec } from "../../../src/sandbox/index.js";
import { PypakrError } from "../../../src/util/errors.js";

const CONTAINER = "/root/.pypakr/containers/app-0123456789ab";
const PYTHON = "/root/.pyenv/versions/3.11.7";

function spec(overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id: "hello-1",
    readOnly: [CONTAINER, PYTHON],
    argv: [`${CONTAINER}/bin/python`, "-m", "app"],
    cwd: "/tmp",
    env: { PATH: `${CONTAINER}/bin:/usr/bin`, GREETING: "hi there" },
    network: "none",
    runtimeDir: "/root/.pypakr/run/hello-1",
    uid: 100001,
    ...overrides,
  };
}

function command(overrides: Partial<SandboxCommand> = {}): SandboxCommand {
  return {
    bwrap: "/usr/bin/bwrap",
    asRoot: true,
    uid: 100001,
    gid: 100001,
    port: 8080,
    setpriv: "/usr/bin/setpriv",
    socat: "/usr/bin/socat",
    innerWrapper: [],
    outerWrapper: [],
    rootEntries: [
      { path: "/bin", symlinkTo: "usr/bin" },
      { path: "/lib", symlinkTo: "usr/lib" },
      { path: "/lib64", symlinkTo: "usr/lib64" },
    ],
    ...overrides,
  };
}

/** The outer bwrap's options (up to its "--"), as [option, ...operands] groups. */
function outerOptions(argv: string[]): string[] {
  const start = argv.indexOf("/usr/bin/bwrap");
  return argv.slice(start + 1, argv.indexOf("--", start));
}

/** Destinations of every mount-making option, in order. */
function mountTargets(options: string[]): { kind: string; source?: string; target: string; perms?: string }[] {
  const mounts: { kind: string; source?: string; target: string; perms?: string }[] = [];
  let perms: string | undefined;
  for (let index = 0; index < options.length; index++) {
    const option = options[index] ?? "";
    if (option === "--perms") {
      perms = options[++index];
      continue;
    }
    const twoOperands = ["--ro-bind", "--ro-bind-try", "--bind", "--dev-bind", "--symlink", "--ro-bind-data"].includes(option);
    const oneOperand = ["--dir", "--tmpfs", "--proc", "--dev"].includes(option);
    if (twoOperands) {
      mounts.push({ kind: option, source: options[index + 1] ?? "", target: options[index + 2] ?? "", ...(perms === undefined ? {} : { perms }) });
      index += 2;
    } else if (oneOperand) {
      mounts.push({ kind: option, target: options[index + 1] ?? "", ...(perms === undefined ? {} : { perms }) });
      index += 1;
    } else if (["--hostname", "--info-fd", "--chdir", "--setenv"].includes(option)) {
      index += option === "--setenv" ? 2 : 1;
    }
    perms = undefined;
  }
  return mounts;
}

function isUnder(child: string, parent: string): boolean {
  return child === parent || child.startsWith(`${parent}/`);
}

describe("the sandbox's command line", () => {
  test("as root: privileged mounts, then setpriv to the app's uid without capabilities, then a bwrap without user namespaces", () => {
    const argv = sandboxArgv(spec(), command());
    assert.equal(argv[0], "/usr/bin/bwrap");
    const options = outerOptions(argv);
    for (const flag of ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]) assert.ok(options.includes(flag), flag);
    // A privileged bwrap with --unshare-user --uid would map the app to host root (recon trap 1).
    assert.ok(!options.includes("--unshare-user"));
    const rest = argv.slice(argv.indexOf("--") + 1);
    assert.deepEqual(rest.slice(0, 9), ["/usr/bin/setpriv", "--reuid", "100001", "--regid", "100001", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]);
    const inner = rest.slice(9, rest.indexOf("--", 9) + 1);
    assert.deepEqual(inner, ["/usr/bin/bwrap", "--unshare-user", "--uid", "100001", "--gid", "100001", "--disable-userns", "--dev-bind", "/", "/", "--chdir", "/tmp", "--"]);
  });

  test("without root: one unprivileged bwrap with its own user namespace, and no setpriv", () => {
    const argv = sandboxArgv(spec(), command({ asRoot: false, uid: 1000, gid: 1000 }));
    assert.ok(!argv.includes("/usr/bin/setpriv"));
    assert.equal(argv.filter((arg) => arg === "/usr/bin/bwrap").length, 1);
    const options = outerOptions(argv);
    assert.ok(options.includes("--unshare-user") && options.includes("--disable-userns"));
  });

  test("binds only /usr, the loader's files, the spec's paths and the socket directory; parents 0755, /tmp 1777", () => {
    const mounts = mountTargets(outerOptions(sandboxArgv(spec(), command())));
    const binds = mounts.filter((mount) => mount.kind.includes("bind") && mount.kind !== "--ro-bind-data");
    assert.deepEqual(
      binds.map((mount) => [mount.kind, mount.source, mount.target]),
      [
        ["--ro-bind", "/usr", "/usr"],
        ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"],
        ["--ro-bind", CONTAINER, CONTAINER],
        ["--ro-bind", PYTHON, PYTHON],
        ["--bind", "/root/.pypakr/run/hello-1", "/run/pypakr"],
      ],
    );
    // Neither the store around the container nor the rest of /root: only directories, made 0755 so the app's uid can pass.
    const dirs = mounts.filter((mount) => mount.kind === "--dir");
    assert.deepEqual(dirs.map((dir) => dir.target), ["/etc", "/root", "/root/.pypakr", "/root/.pypakr/containers", "/root/.pyenv", "/root/.pyenv/versions", "/run"]);
    for (const dir of dirs) assert.equal(dir.perms, "0755", dir.target);
    assert.deepEqual(mounts.find((mount) => mount.kind === "--tmpfs"), { kind: "--tmpfs", target: "/tmp", perms: "1777" });
    assert.deepEqual(mounts.filter((mount) => mount.kind === "--symlink").map((link) => [link.source, link.target]), [["usr/bin", "/bin"], ["usr/lib", "/lib"], ["usr/lib64", "/lib64"]]);
    // Every mount is one of those: no other host path reaches the sandbox.
    const allowed = ["/usr", "/etc", "/root", "/run", "/tmp", "/proc", "/dev", "/bin", "/lib", "/lib64"];
    for (const mount of mounts) assert.ok(allowed.some((top) => isUnder(mount.target, top)), mount.target);
    for (const mount of mounts) assert.ok(!(mount.target === "/root/.pypakr" && mount.kind !== "--dir"), "the store is bound");
  });

  test("a read-only path under /tmp is bound after the private /tmp, so the tmpfs does not hide it", () => {
    const mounts = mountTargets(outerOptions(sandboxArgv(spec({ readOnly: ["/tmp/t/venv"] }), command())));
    const tmpfs = mounts.findIndex((mount) => mount.kind === "--tmpfs");
    const bind = mounts.findIndex((mount) => mount.target === "/tmp/t/venv");
    assert.ok(tmpfs >= 0 && bind > tmpfs);
    assert.ok(mounts.some((mount) => mount.kind === "--dir" && mount.target === "/tmp/t" && mount.perms === "0755"));
  });

  test("network none: the network is unshared and socat bridges the socket to PORT before the app is exec'd", () => {
    const argv = sandboxArgv(spec(), command());
    const shell = argv.indexOf("/bin/sh");
    assert.ok(shell > 0);
    assert.equal(argv[shell + 1], "-c");
    assert.equal(argv[shell + 2], '/usr/bin/socat UNIX-LISTEN:/run/pypakr/app.sock,fork,mode=600,backlog=1024 TCP:127.0.0.1:8080 2>/dev/null & exec "$@"');
    assert.deepEqual(argv.slice(shell + 3), ["sh", `${CONTAINER}/bin/python`, "-m", "app"]);
  });

  test("network host: the network is shared, name resolution and certificates are bound, and the app is run directly", () => {
    const argv = sandboxArgv(spec({ network: "host" }), command({ port: 43210 }));
    const options = outerOptions(argv);
    assert.ok(!options.includes("--unshare-net"));
    assert.ok(!argv.includes("/bin/sh"));
    const targets = mountTargets(options).map((mount) => mount.target);
    for (const file of ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs"]) assert.ok(targets.includes(file), file);
    assert.ok(!targets.includes("/run/pypakr"));
    assert.deepEqual(argv.slice(-3), [`${CONTAINER}/bin/python`, "-m", "app"]);
  });

  test("the environment is the spec's, HOME=/tmp and PORT, after --clearenv; the spec cannot choose PORT", () => {
    const options = outerOptions(sandboxArgv(spec({ env: { PATH: "/usr/bin", PORT: "1" } }), command()));
    const setenv: Record<string, string> = {};
    for (let index = options.indexOf("--clearenv"); index >= 0 && index < options.length; index++) {
      if (options[index] === "--setenv") setenv[options[index + 1] ?? ""] = options[index + 2] ?? "";
    }
    assert.ok(options.indexOf("--clearenv") < options.indexOf("--setenv"));
    assert.deepEqual(setenv, { HOME: "/tmp", PATH: "/usr/bin", PORT: "8080" });
  });

  test("limit wrappers: the cgroup join runs before bwrap on the host, prlimit right before the app inside", () => {
    const argv = sandboxArgv(spec({ network: "host" }), command({ outerWrapper: ["/bin/sh", "-c", "JOIN", "sh", "/cg/procs"], innerWrapper: ["/usr/bin/prlimit", "--as=100", "--"] }));
    assert.deepEqual(argv.slice(0, 6), ["/bin/sh", "-c", "JOIN", "sh", "/cg/procs", "/usr/bin/bwrap"]);
    assert.deepEqual(argv.slice(-6), ["/usr/bin/prlimit", "--as=100", "--", `${CONTAINER}/bin/python`, "-m", "app"]);
  });

  test("/etc/passwd names the app's uid, and root stays root", () => {
    assert.deepEqual(identityFiles(100001, 100001), {
      passwd: "root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:100001:100001:app:/tmp:/usr/sbin/nologin\n",
      group: "root:x:0:\napp:x:100001:\n",
    });
  });
});

describe("the sandbox refuses spec values that could widen it", () => {
  const refused: [string, Partial<SandboxSpec>][] = [
    ["an id with a slash", { id: "../../memory" }],
    ["an id with capitals", { id: "Hello" }],
    ["an id too long", { id: "a".repeat(41) }],
    ["a relative read-only path", { readOnly: ["venv"] }],
    ["a read-only path with ..", { readOnly: ["/srv/app/../../root"] }],
    ["a read-only path with a trailing slash", { readOnly: ["/srv/app/"] }],
    ["the whole filesystem", { readOnly: ["/"] }],
    ["a read-only path over /tmp", { readOnly: ["/tmp"] }],
    ["a read-only path in /proc", { readOnly: ["/proc/1"] }],
    ["a read-only path over the socket directory", { readOnly: ["/run"] }],
    ["a relative cwd", { cwd: "tmp" }],
    ["a relative runtime directory", { runtimeDir: "run/x" }],
    ["no command", { argv: [] }],
    ["a NUL in an argument", { argv: ["/usr/bin/python", "a\0b"] }],
    ["an env name with =", { env: { "A=B": "c" } }],
    ["an env name with a NUL", { env: { "A\0": "c" } }],
    ["an env value with a NUL", { env: { A: "c\0d" } }],
    ["uid 0", { uid: 0 }],
    ["a fractional uid", { uid: 1.5 }],
    ["a negative memory limit", { memoryBytes: -1 }],
    ["an unknown network", { network: "bridge" as "none" }],
  ];
  for (const [what, overrides] of refused) {
    test(`refuses ${what}`, () => {
      assert.throws(() => checkSpec(spec(overrides)), (error: unknown) => error instanceof PypakrError && error.code === "bad-config");
    });
  }

  test("accepts a spec within bounds, read-only paths under /tmp included", () => {
    checkSpec(spec());
    checkSpec(spec({ readOnly: ["/tmp/pypakr-tests/venv"], network: "host", uid: undefined, memoryBytes: 1, maxProcesses: 1 }));
  });
});
