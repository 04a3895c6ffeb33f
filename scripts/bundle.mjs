// Bundles the CLI into dist/bundle/ (the package's bin): one file for the
// command line, plus chunks each command loads only when it runs, so that
// `pypakr run` starts without compiling code it does not use. The version is
// fixed at build time rather than read from package.json at every start.
// The package's bin is the shell launcher beside it (src/cli/pypakr.sh), which
// starts `pypakr run` without Node and everything else with this bundle.
import { chmodSync, copyFileSync, readFileSync, rmSync } from "node:fs";
import { URL } from "node:url";
import { build } from "esbuild";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

const outdir = "dist/bundle";
// Chunk names carry content hashes: old ones would pile up.
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { pypakr: "src/cli/entry.ts" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  define: { PYPAKR_VERSION: JSON.stringify(version) },
  // Dependencies written as CommonJS call require(); ESM output has none of its own.
  banner: { js: "import { createRequire as __pypakrCreateRequire } from 'node:module'; const require = __pypakrCreateRequire(import.meta.url);" },
  logLevel: "warning",
});

copyFileSync("src/cli/pypakr.sh", `${outdir}/pypakr`);
chmodSync(`${outdir}/pypakr`, 0o755);
