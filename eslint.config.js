// Lint rules: typescript-eslint's recommended type-aware set, plus the house rule
// that only the CLI prints (domain code returns values or throws PypakrError).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const PRINT_THROUGH_LOG = {
  selector: "MemberExpression[object.type='MemberExpression'][object.object.name='process'][object.property.name=/^std(out|err)$/][property.name='write']",
  message: "Print through writeOut / writeErr / progress (src/util/log.ts): they make untrusted text printable.",
};

/**
 * The layering of src/ (DESIGN.md, "Architecture"; README.md, "Development"): dependencies point one way, from a
 * level to the levels below it, never up. Within a level a folder may use only the folders SIDEWAYS names, so the
 * whole order is strict and has no cycles. Folders DESIGN.md plans but the tree does not have yet are listed, so
 * that no folder below may ever import them.
 */
const LEVELS = [
  ["util"],
  ["layout", "config"],
  ["python", "image", "base", "store"],
  ["container", "builder", "run", "registry", "sandbox", "sbom"],
  ["serve", "hub", "export"],
  ["cli"],
];
const SIDEWAYS = {
  image: ["python"],
  base: ["python", "image"],
  store: ["python", "image"],
  builder: ["container"],
  run: ["container", "registry"],
};
// util is a toolbox of unrelated leaf modules (fs, hashing, tar, output), not a domain with a surface to keep small:
// its files are imported directly. Every other folder is reached only through its index.ts.
const WITHOUT_FACE = ["util"];
// How deep a file may sit below its folder (src/cli/commands/run.ts is depth 2).
const MAX_DEPTH = 3;

function mayImport(folder) {
  const level = LEVELS.findIndex((names) => names.includes(folder));
  return new Set([...LEVELS.slice(0, level).flat(), ...(SIDEWAYS[folder] ?? [])]);
}

/** One block per folder and file depth: a relative specifier's leading `../`s say which folder it leaves for. */
function layeringBlocks() {
  const blocks = [];
  for (const folder of LEVELS.flat()) {
    const allowed = mayImport(folder);
    const forbidden = LEVELS.flat().filter((other) => other !== folder && !allowed.has(other));
    const faceless = [folder, ...WITHOUT_FACE].join("|");
    const up = (depth) => "\\.\\./".repeat(depth);
    const upwardMessage = `src/${folder}/ may import only ${[...allowed].join(", ") || "nothing of src/"}: dependencies point down (cli -> serve|hub|export -> container|builder|run|registry -> base|store|image|python -> config|layout -> util; see eslint.config.js LEVELS).`;
    const faceMessage = "Import another folder through its face, ../FOLDER/index.js (export what you need there), not one of its files.";
    for (let depth = 1; depth <= MAX_DEPTH; depth++) {
      const upward = `^${up(depth)}(?:${forbidden.join("|")})(?:/|$)`;
      const pastFace = `^${up(depth)}(?!(?:${faceless})/)[^./][^/]*/(?!index\\.js$)`;
      const patterns = [{ regex: pastFace, message: faceMessage }];
      if (forbidden.length > 0) patterns.unshift({ regex: upward, message: upwardMessage });
      // no-restricted-imports sees import and export declarations; import() is held to the same patterns here.
      // (esquery regexes cannot hold a "/", hence \x2F.)
      const dynamic = patterns.map(({ regex, message }) => ({ selector: `ImportExpression > Literal.source[value=/${regex.replaceAll("/", "\\x2F")}/]`, message }));
      blocks.push({
        files: [`src/${folder}/${"*/".repeat(depth - 1)}*.ts`],
        rules: {
          "no-restricted-imports": ["error", { patterns }],
          "no-restricted-syntax": ["error", PRINT_THROUGH_LOG, ...dynamic],
        },
      });
    }
  }
  return blocks;
}

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "bench/results/", "bench/work/", "eslint.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      // node:test's test() and describe() return promises the runner itself awaits.
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite", "before", "after", "beforeEach", "afterEach"] }] },
      ],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  // One door to the terminal (src/util/log.ts: writeOut, writeErr, progress), which makes untrusted text printable.
  {
    files: ["src/**/*.ts"],
    rules: {
      "no-console": "error",
      "no-restricted-syntax": ["error", PRINT_THROUGH_LOG],
    },
  },
  // The layering (below): each folder's block forbids imports that go up, or sideways against the order, and
  // imports that reach past another folder's face (index.ts).
  ...layeringBlocks(),
  // Plain-JS build scripts run by node directly: no TypeScript project behind them.
  { files: ["**/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
