/** What the benchmark ran on, printed above the table and kept in the JSON. */
import { readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO, UV, VENV_PACK, WORK } from "./paths.js";
import { tryRun } from "./proc.js";

export interface Machine {
  nproc: number;
  memoryBytes: number;
  cpuModel: string;
  kernel: string;
  workFilesystem: string;
  node: string;
  python: string;
  pythonExecutable: string;
  pip: string;
  uv: string;
  venvPack: string;
  pypakrVersion: string;
  gitCommit: string;
}

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((text) => text.startsWith("model name"));
    if (line) return line.slice(line.indexOf(":") + 1).trim();
  } catch {
    // not Linux, or /proc is hidden: fall back to what Node knows
  }
  return os.cpus()[0]?.model ?? "unknown";
}

function gitCommit(): string {
  const commit = tryRun({ cmd: "git", args: ["-C", REPO, "rev-parse", "--short=12", "HEAD"] });
  if (!commit) return "unknown";
  const dirty = tryRun({ cmd: "git", args: ["-C", REPO, "status", "--porcelain", "--untracked-files=no"] });
  return dirty ? `${commit}+dirty` : commit;
}

function pypakrVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** `pipOf` is a pip from a fresh `python -m venv`, the one the pip peer uses. */
export function describeMachine(python: string, pipOf: string | null): Machine {
  const version = (step: { cmd: string; args: string[] }) => tryRun(step)?.split("\n")[0] ?? "unavailable";
  return {
    nproc: Number(tryRun({ cmd: "nproc", args: [] }) ?? os.availableParallelism()),
    memoryBytes: os.totalmem(),
    cpuModel: cpuModel(),
    kernel: `${os.type()} ${os.release()} ${os.machine()}`,
    workFilesystem: tryRun({ cmd: "stat", args: ["-f", "-c", "%T", WORK] }) ?? "unknown",
    node: process.version,
    python: version({ cmd: python, args: ["--version"] }),
    pythonExecutable: python,
    pip: pipOf ? version({ cmd: pipOf, args: ["--version"] }).replace(/ from \S+/, "") : "unavailable",
    uv: version({ cmd: UV, args: ["--version"] }),
    venvPack: version({ cmd: VENV_PACK, args: ["--version"] }),
    pypakrVersion: pypakrVersion(),
    gitCommit: gitCommit(),
  };
}

export function formatMachine(machine: Machine): string {
  const gib = (machine.memoryBytes / 1024 ** 3).toFixed(1);
  const rows: [string, string][] = [
    ["CPU", `${machine.cpuModel} (nproc ${machine.nproc})`],
    ["memory", `${gib} GiB`],
    ["kernel", machine.kernel],
    ["bench/work fs", machine.workFilesystem],
    ["node", machine.node],
    ["python", `${machine.python} (${machine.pythonExecutable})`],
    ["pip", machine.pip],
    ["uv", machine.uv],
    ["venv-pack", machine.venvPack],
    ["pypakr", `${machine.pypakrVersion} (commit ${machine.gitCommit})`],
  ];
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`).join("\n");
}
