/**
 * `pypakr serve --config FILE`: a TOML or YAML file (by its extension), each
 * read by a well-kept parser (smol-toml, yaml), then validated by one schema.
 * Every error names FILE:LINE: a syntax error where the parser stopped, a
 * wrong value or unknown key at the line of its key.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { describe, PypakrError, USAGE_EXIT_CODE, usageError } from "../../util/errors.js";
import type { AppSettings, GatewaySettings } from "../types.js";
import { type FileSettings, type Problem, problemsOf, serveFileSchema, toSettings } from "./schema.js";
import { tomlLineFinder } from "./toml-lines.js";

const FORMATS: Record<string, "toml" | "yaml"> = { ".toml": "toml", ".yaml": "yaml", ".yml": "yaml" };

/** A file's parsed content and how to find the line of a key path in it. */
interface ParsedFile {
  value: unknown;
  lineOf(path: PropertyKey[]): number;
}

export async function loadServeConfig(file: string): Promise<GatewaySettings> {
  const format = FORMATS[path.extname(file).toLowerCase()];
  if (!format) throw configError(`${file}: pypakr serve reads TOML or YAML, named by the file's extension`, `Name the file with .toml, .yaml or .yml.`);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    throw configError(`cannot read ${file}: ${describe(error)}`, "Give --config an existing, readable TOML or YAML file.");
  }
  const parsed = format === "toml" ? readToml(file, text) : readYaml(file, text);
  return { ...settingsFrom(parsed.value, (problem) => `${file}:${parsed.lineOf(problem.path)}: ${keyPath(problem.path)}`), insecure: false };
}

/** One app's settings, with the gateway's request timeout, which bounds that app's requests too. */
export type ServedAppSettings = AppSettings & { requestTimeoutMs: number };

/**
 * The app named `appName` of a serve config file, for handing the same app to
 * another engine (`pypakr export --knative`). Without a name, the file's only
 * app; an unknown name, or none when the file has several, lists the file's apps.
 */
export async function loadAppSettings(file: string, appName: string | undefined): Promise<ServedAppSettings> {
  const settings = await loadServeConfig(file);
  const names = settings.apps.map((app) => app.name);
  const app = appName === undefined ? (settings.apps.length === 1 ? settings.apps[0] : undefined) : settings.apps.find((candidate) => candidate.name === appName);
  if (!app) {
    const problem = appName === undefined ? `${file} has ${names.length} apps: name the one to export with --app NAME` : `${file} has no app named ${JSON.stringify(appName)}`;
    throw usageError("usage", problem, `The apps in ${file}: ${names.join(", ")}.`);
  }
  return { ...app, requestTimeoutMs: settings.requestTimeoutMs };
}

/** Validates a file's content (or the flags, which are turned into one), naming each problem's place by `where`. */
export function settingsFrom(value: unknown, where: (problem: Problem) => string): FileSettings {
  const result = serveFileSchema.safeParse(value);
  if (result.success) return toSettings(result.data);
  const problems = problemsOf(result.error.issues)
    .map((problem) => ({ place: where(problem), problem }))
    // In file order (line numbers compared as numbers), so the first to fix comes first.
    .sort((a, b) => a.place.localeCompare(b.place, "en", { numeric: true }));
  const [first] = problems;
  if (!first) throw new Error("zod failed without an issue");
  // A flag's problem comes once per --route app that has it: said once.
  const lines = [...new Set(problems.map(({ place, problem }) => `${place}: ${problem.message}`))];
  throw configError(lines.join("\n"), first.problem.hint);
}

export function configError(message: string, hint: string): PypakrError {
  return new PypakrError(message, { code: "bad-config", hint, exitCode: USAGE_EXIT_CODE });
}

/** A key path as a TOML dotted key: apps.hello.max-instances, with a key that needs it quoted (apps."a b"). */
function keyPath(keys: PropertyKey[]): string {
  if (keys.length === 0) return "(the file)";
  return keys.map((key) => (/^[A-Za-z0-9_-]+$/.test(String(key)) ? String(key) : JSON.stringify(String(key)))).join(".");
}

function readToml(file: string, text: string): ParsedFile {
  try {
    return { value: parseToml(text), lineOf: tomlLineFinder(text) };
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // smol-toml's message is "Invalid TOML document: WHAT" followed by a code excerpt: the first line is the point.
    const what = (error.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
    throw configError(`${file}:${error.line}:${error.column}: ${what}`, "Fix the TOML syntax there (https://toml.io); docs/examples/serve.toml shows every setting.");
  }
}

function readYaml(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter();
  // merge: "<<: *shared" keys, the YAML way to give several apps the same settings.
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  const [error] = document.errors;
  if (error) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw configError(`${file}:${line}:${col}: ${error.message.split("\n")[0] ?? ""}`, "Fix the YAML syntax there (https://yaml.org); docs/examples/serve.yaml shows every setting.");
  }
  return {
    // An empty document (or one of only comments) is null: read as an empty table, which then lacks apps.
    value: (document.toJS({ maxAliasCount: 100 }) as unknown) ?? {},
    lineOf(keys) {
      // The line of the deepest key of the path the document has; 1 when not even the first is there.
      let line = 1;
      let node: unknown = document.contents;
      for (const key of keys) {
        if (isMap(node)) {
          const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(key));
          if (!pair) break;
          line = lineOfNode(pair.key as YamlNode, lineCounter) ?? line;
          node = pair.value;
        } else if (isSeq(node)) {
          node = node.items[Number(key)];
          line = lineOfNode(node as YamlNode, lineCounter) ?? line;
        } else break;
      }
      return line;
    },
  };
}

function lineOfNode(node: YamlNode | null | undefined, lineCounter: LineCounter): number | undefined {
  const offset = node?.range?.[0];
  return offset === undefined ? undefined : lineCounter.linePos(offset).line;
}
