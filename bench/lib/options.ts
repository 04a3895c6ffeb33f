/** The benchmark's command line. */
import { parseArgs } from "node:util";

export interface Options {
  /** Timed runs of each command (after one untimed warm-up). */
  runs: number;
  /** Timed runs of each side of the `pypakr run` start-up comparison. */
  startupRuns: number;
  quick: boolean;
  /** true/false when asked for; undefined = decide (cached wheels, or the index answers within 3 s). */
  real: boolean | undefined;
  compare: string | undefined;
  load: string | undefined;
  clean: boolean;
  python: string | undefined;
  /** The parts to run (default all): the fixture sets (with the push transfer), the hostile-scale row, the serve rows, the export rows, the hub rows. */
  only: Part[];
  help: boolean;
}

export const PARTS = ["sets", "scale", "serve", "export", "hub"] as const;
export type Part = (typeof PARTS)[number];

export const USAGE = `Usage: npm run bench -- [options]      (or: node dist/bench/run.js [options])

Benchmarks pypakr against pip, uv, venv-pack and cp on generated offline
wheels (and, with --real, Flask + numpy + pandas), prints a table and writes
bench/results/<timestamp>.json and bench/results/latest.json.

Options:
  --runs N            timed runs per command (default 5; 3 with --quick)
  --startup-runs N    timed runs per side of the 'pypakr run' start-up test (default 20)
  --quick             small fixture set, 3 runs, no real set unless --real: a smoke check
  --real              also benchmark the real set (Flask, numpy, pandas), downloading it once
  --no-real           skip the real set (default: on when its wheels are cached or the
                      package index answers within 3 s; off with --quick)
  --compare FILE      after the run, print the change against an earlier result
  --load FILE         do not run: print FILE's tables (with --compare: the change between the two)
  --clean             delete bench/work (tools, fixtures, caches) first
  --python PATH       interpreter for everything (default: the real path of python3)
  --only PART[,PART]  run only these parts: sets (the fixture sets and the push
                      transfer), scale (hostile-scale), serve (pypakr serve),
                      export (pypakr export of a Flask app onto a Debian runtime
                      vs a Dockerfile's venv + pip image: time, size, the bytes
                      a second app sends, cold start under runc; needs root,
                      mmdebstrap, umoci, runc), hub (pypakr hub beside
                      docker-registry over 1,000 generated repositories x 3
                      tags: page and search p95, push -> searchable, RSS)
  -h, --help          this help
`;

function positiveInteger(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${name} must be a positive integer, not "${value}"`);
  return parsed;
}

function parseParts(value: string | undefined): Part[] {
  if (value === undefined) return [...PARTS];
  const parts = value.split(",").map((part) => part.trim());
  for (const part of parts) if (!(PARTS as readonly string[]).includes(part)) throw new Error(`--only takes ${PARTS.join(", ")} (comma-separated), not "${part}"`);
  return parts as Part[];
}

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      runs: { type: "string" },
      "startup-runs": { type: "string" },
      quick: { type: "boolean", default: false },
      real: { type: "boolean" },
      "no-real": { type: "boolean" },
      compare: { type: "string" },
      load: { type: "string" },
      clean: { type: "boolean", default: false },
      python: { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.real && values["no-real"]) throw new Error("--real and --no-real contradict each other");
  const quick = values.quick ?? false;
  return {
    runs: positiveInteger(values.runs, "--runs", quick ? 3 : 5),
    startupRuns: positiveInteger(values["startup-runs"], "--startup-runs", 20),
    quick,
    real: values.real ? true : values["no-real"] ? false : quick ? false : undefined,
    compare: values.compare,
    load: values.load,
    clean: values.clean ?? false,
    python: values.python,
    only: parseParts(values.only),
    help: values.help ?? false,
  };
}
