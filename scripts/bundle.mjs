// Bundles the CLI into dist/bundle/ (the package's bin): one file for the
// command line, plus chunks each command loads only when it runs, so that
// `pypakr run` starts without compiling code it does not use. The version is
// fixed at build time rather than read from package.json at every start.
import { readFileSync } from "node:fs";
import { URL } from "node:url";
import { build } from "esbuild";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

await build({
  entryPoints: { pypakr: "src/cli/main.ts" },
  outdir: "dist/bundle",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  define: { PYPAKR_VERSION: JSON.stringify(version) },
  // Dependencies written as CommonJS call require(); ESM output has none of its own.
  banner: { js: "import { createRequire as __pypakrCreateRequire } from 'node:module'; const require = __pypakrCreateRequire(import.meta.url);" },
  logLevel: "warning",
});
