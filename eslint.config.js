// Lint rules: typescript-eslint's recommended type-aware set, plus the house rule
// that only the CLI prints (domain code returns values or throws PypakrError).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
      "no-restricted-syntax": [
        "error",
        {
          selector: "MemberExpression[object.type='MemberExpression'][object.object.name='process'][object.property.name=/^std(out|err)$/][property.name='write']",
          message: "Print through writeOut / writeErr / progress (src/util/log.ts): they make untrusted text printable.",
        },
      ],
    },
  },
  // Plain-JS build scripts run by node directly: no TypeScript project behind them.
  { files: ["**/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
