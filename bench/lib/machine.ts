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
  /** Device, type and (for ext4) whether it has a journal, from findmnt and /sys/fs/ext4. */
  workMount?: string;
  node: string;
  python: string;
  pythonExecutable: string;
  pip: string;
  uv: string;
  venvPack: string;
  pypakrVersion: string;
  gitCommit: string;
  /** Hash of the CLI's JavaScript that was measured (the run's snapshot of dist/bundle). */
  pypakrBuild?: string;
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

/** "/dev/vda ext4, no journal": ext4 without a journal is slow to create files after mass deletion. */
export function describeMount(dir: string): { text: string; ext4WithoutJournal: boolean } {
  const found = tryRun({ cmd: "findmnt", args: ["-n", "-o", "SOURCE,FSTYPE", "-T", dir] });
  if (!found) return { text: "unknown", ext4WithoutJournal: false };
  const [source = "?", type = "?"] = found.split(/\s+/);
  if (type !== "ext4") return { text: `${source} ${type}`, ext4WithoutJournal: false };
  let journal: string | null = null;
  try {
    journal = readFileSync(path.join("/sys/fs/ext4", path.basename(source), "journal_task"), "utf8").trim();
  } catch {
    // older kernels have no journal_task; say nothing about the journal
  }
  if (journal === null) return { text: `${source} ext4`, ext4WithoutJournal: false };
  const none = journal === "<none>";
  return { text: `${source} ext4, ${none ? "no journal" : "journaled"}`, ext4WithoutJournal: none };
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
    workMount: describeMount(WORK).text,
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
    ["bench/work fs", `${machine.workFilesystem} (${machine.workMount ?? "?"})`],
    ["node", machine.node],
    ["python", `${machine.python} (${machine.pythonExecutable})`],
    ["pip", machine.pip],
    ["uv", machine.uv],
    ["venv-pack", machine.venvPack],
    ["pypakr", `${machine.pypakrVersion} (commit ${machine.gitCommit}, build ${machine.pypakrBuild ?? "?"})`],
  ];
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`).join("\n");
}
