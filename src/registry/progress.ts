/**
 * Per-blob progress bars for push and pull, drawn with cli-progress only when
 * stderr is a terminal and -q was not given; otherwise silent (a log or a
 * pipe gets just the summary line the command prints). cli-progress writes to
 * stderr itself, the one writer besides src/util/log.ts: its cursor codes are
 * its own, and the text it draws (labels, words) is made printable here.
 * It is loaded only when bars are drawn: it and what it imports are as much
 * code as the rest of create-container, which imports this module with the
 * registry client whether or not it pulls.
 */
import { formatBytes, isQuiet } from "../util/log.js";
import { printableLine } from "../util/printable.js";

export interface BlobBar {
  add(bytes: number): void;
  /** Ends the bar with a word in place of the byte count: "done", "exists", "mounted". */
  finish(word: string): void;
}

export interface TransferProgress {
  bar(label: string, total: number): BlobBar;
  stop(): void;
}

const SILENT: BlobBar = { add: () => undefined, finish: () => undefined };

export async function transferProgress(verb: string): Promise<TransferProgress> {
  if (isQuiet() || !process.stderr.isTTY) return { bar: () => SILENT, stop: () => undefined };
  const cliProgress = (await import("cli-progress")).default;
  const bars = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: `${verb} {label} [{bar}] {done} / {size} {state}`,
      barCompleteChar: "#",
      barIncompleteChar: "-",
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      fps: 10,
    },
    cliProgress.Presets.legacy,
  );
  return {
    bar(label, total) {
      let done = 0;
      const bar = bars.create(Math.max(total, 1), 0, { label: printableLine(label), done: formatBytes(0), size: formatBytes(total), state: "" });
      return {
        add(bytes) {
          done += bytes;
          bar.update(Math.min(done, total), { done: formatBytes(done) });
        },
        finish(word) {
          bar.update(Math.max(total, 1), { done: formatBytes(total), state: printableLine(word) });
          bar.stop();
        },
      };
    },
    stop: () => bars.stop(),
  };
}
