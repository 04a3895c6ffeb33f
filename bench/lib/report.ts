/** The printed tables, the JSON result, and the comparison with an earlier result. */
import type { Machine } from "./machine.js";
import { formatMachine } from "./machine.js";
import type { Comparison, Measurement, SetResult, Target } from "./measure.js";

export interface BenchResult {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  options: { runs: number; startupRuns: number; quick: boolean; real: boolean; features: { linkModes: boolean; tagRefs: boolean; compression?: boolean } };
  machine: Machine;
  sets: SetResult[];
  notes: string[];
  failures: string[];
}

const MB = 1e6;

function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (rightAligned[column] ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n");
}

/** Milliseconds as seconds, or as milliseconds when small. */
function duration(ms: number | null | undefined, forceMs = false): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "-";
  if (forceMs || Math.abs(ms) < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  // Below 0.1 MB one decimal of MB says nothing (a second app's few new bytes).
  if (Math.abs(value) < 0.1 * MB) return `${(value / 1e3).toFixed(1)} kB`;
  return `${(value / MB).toFixed(1)} MB`;
}

/** Responses per second. */
function rate(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "-";
  return `${value.toFixed(0)}/s`;
}

function targetText(target: Target | null, unit: Comparison["unit"]): string {
  if (!target) return "(info)";
  if (target.metric === "ratio") return `ratio ${target.op} ${target.value}`;
  if (target.metric === "value") return `${target.op} ${unit === "bytes" ? bytes(target.value) : duration(target.value, true)}`;
  return `+${target.value} ${unit === "ms" ? "ms" : "B"} ${target.op === "<=" ? "max" : "under"}`;
}

function metText(comparison: Comparison): string {
  // An absolute limit needs pypakr's side only; a ratio or difference needs both.
  const missing = comparison.pypakr === null || (comparison.target?.metric !== "value" && comparison.peer === null);
  if (comparison.met === null) return comparison.target && missing ? "n/a (failed)" : "-";
  return comparison.met ? "yes" : "NO";
}

function value(comparison: Comparison, which: "pypakr" | "peer"): string {
  const raw = comparison[which];
  if (comparison.unit === "bytes") return bytes(raw);
  if (comparison.unit === "req/s") return rate(raw);
  return duration(raw, comparison.target?.metric === "difference");
}

function ratioText(comparison: Comparison): string {
  if (comparison.target?.metric === "difference") {
    return comparison.difference === null ? "-" : `${comparison.difference >= 0 ? "+" : ""}${comparison.difference.toFixed(1)} ms`;
  }
  if (comparison.ratio === null) return "-";
  // Next to its limit, two decimals could show "0.60x" for a ratio that misses "<= 0.6".
  const nearLimit = comparison.target?.metric === "ratio" && Math.abs(comparison.ratio - comparison.target.value) < 0.005;
  // A tiny ratio (a second app's few new bytes against a whole layer) would print as 0.00x.
  if (comparison.ratio > 0 && comparison.ratio < 0.005) return `${comparison.ratio.toPrecision(1)}x`;
  return `${comparison.ratio.toFixed(nearLimit ? 3 : 2)}x`;
}

function measurementRows(measurements: Measurement[]): string[][] {
  return measurements.map((m) => {
    const failed = m.failures.length ? ` (${m.failures.length} failed)` : "";
    if (!m.summary) return [m.label, "FAILED", "-", "-", `0${failed}`];
    if (m.unit === "req/s") return [m.label, rate(m.summary.median), rate(m.summary.min), rate(m.summary.max), `${m.summary.n}${failed}`];
    const forceMs = m.summary.median < 1000;
    return [m.label, duration(m.summary.median, forceMs), duration(m.summary.min, forceMs), duration(m.summary.max, forceMs), `${m.summary.n}${failed}`];
  });
}

export function formatSet(set: SetResult): string {
  const f = set.fixture;
  const generated = f.generatedFiles !== undefined ? `; ${f.generatedFiles} files, ${bytes(f.generatedInstalledBytes)} in the wheels' contents` : "";
  const lines = [
    `== ${set.name}: ${set.description}; ${set.runs} timed runs per command ==`,
    // A set of wheels says what it installs; the crafted hostile-scale layers have none.
    ...(f.wheels > 0 ? [`   ${f.wheels} wheels, ${bytes(f.wheelBytes)}${generated}; pip's venv of it: ${f.referenceFiles} files, ${bytes(f.referenceBytes)}`] : []),
    "",
    table(["command (wall time)", "median", "min", "max", "runs"], measurementRows(Object.values(set.measurements)), [false, true, true, true, true]),
    "",
    table(
      ["comparison (pypakr vs peer)", "pypakr", "peer", "ratio", "target", "met"],
      set.comparisons.map((c) => [c.what, value(c, "pypakr"), value(c, "peer"), ratioText(c), targetText(c.target, c.unit), metText(c)]),
      [false, true, true, true, false, false],
    ),
  ];
  for (const note of set.notes) lines.push(`note: ${note}`);
  return lines.join("\n");
}

export function formatResult(result: BenchResult): string {
  const parts = [
    `pypakr benchmark, ${result.startedAt} (${result.durationSeconds.toFixed(0)} s; ${result.options.runs} timed runs per command after one warm-up, ${result.options.startupRuns} for start-up${result.options.quick ? "; --quick" : ""})`,
    formatMachine(result.machine),
    ...result.sets.map(formatSet),
  ];
  if (result.notes.length) parts.push(result.notes.map((note) => `note: ${note}`).join("\n"));
  if (result.failures.length) parts.push(`FAILURES:\n${result.failures.map((failure) => `  ${failure}`).join("\n")}`);
  return parts.join("\n\n") + "\n";
}

function change(before: number | null | undefined, after: number | null | undefined): string {
  if (before === null || before === undefined || after === null || after === undefined || before === 0) return "-";
  const percent = ((after - before) / before) * 100;
  return `${percent >= 0 ? "+" : ""}${percent.toFixed(1)}%`;
}

/** What changed from `before` to `after`: medians of every command, and each comparison's ratio and verdict. */
export function formatChange(before: BenchResult, after: BenchResult, beforeName: string): string {
  const lines = [`change against ${beforeName} (${before.startedAt}, commit ${before.machine.gitCommit}, ${before.machine.cpuModel})`];
  if (before.machine.cpuModel !== after.machine.cpuModel || before.machine.nproc !== after.machine.nproc) {
    lines.push("warning: the two results come from different machines; the changes say little.");
  }
  for (const set of after.sets) {
    const old = before.sets.find((candidate) => candidate.name === set.name);
    if (!old) {
      lines.push("", `${set.name}: not in the earlier result`);
      continue;
    }
    const rows = Object.values(set.measurements).map((m) => {
      const previous = old.measurements[m.id]?.summary?.median;
      const now = m.summary?.median;
      const show = m.unit === "req/s" ? rate : duration;
      return [m.label, show(previous), show(now), change(previous, now)];
    });
    lines.push("", `== ${set.name} ==`, table(["command (median)", "before", "after", "change"], rows, [false, true, true, true]));
    const comparisonRows = set.comparisons.map((c) => {
      const previous = old.comparisons.find((candidate) => candidate.id === c.id);
      const show = (x: Comparison | undefined) => (x ? ratioText(x) : "-");
      return [c.what, show(previous), show(c), previous ? metText(previous) : "-", metText(c)];
    });
    lines.push("", table(["comparison", "before", "after", "met before", "met now"], comparisonRows, [false, true, true, false, false]));
  }
  for (const old of before.sets) if (!after.sets.some((set) => set.name === old.name)) lines.push("", `${old.name}: only in the earlier result`);
  return lines.join("\n") + "\n";
}
