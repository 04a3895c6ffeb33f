/**
 * The CLI's option definitions (src/cli/options.ts, src/cli/command.ts):
 * one --json wording in every command's help, shared flags spelt one way,
 * and a command's options read typed from its own declaration, parsed once.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Command } from "commander";
import { defineCommand, type CommandSpec } from "../../../src/cli/command.js";
import { choice, connection, environment, FLAGS, flag, json, registryOptions, required, text } from "../../../src/cli/options.js";
import { buildProgram } from "../../../src/cli/program.js";
import type { Config } from "../../../src/config/config.js";
import { PypakrError } from "../../../src/util/errors.js";

/** A program holding one command, run as src/cli/program.ts runs it (with the global --debug beside its own options). */
function programWith(spec: CommandSpec): Command {
  const program = new Command("pypakr").exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  const command = program.command(spec.name).exitOverride();
  spec.define(command);
  command.option("--debug", "show stack traces for errors");
  const context = {
    get config(): Config {
      throw new Error("this test reads no settings");
    },
    debug: false,
  };
  command.action(async () => {
    await spec.run(command.opts(), command.args, context);
  });
  return program;
}

describe("CLI options", () => {
  test("every command that prints JSON has --json, in one wording", () => {
    const program = buildProgram("0.0.0", () => undefined);
    const withJson = program.commands.filter((command) => command.options.some((option) => option.long === "--json"));
    assert.deepEqual(withJson.map((command) => command.name()).sort(), ["create-container", "create-image", "export", "gc", "images", "init", "inspect", "pull", "push", "relocate", "store", "verify"]);
    for (const command of withJson) assert.match(command.helpInformation(), /\n {2}--json +print the result as JSON\n/, command.name());
  });

  test("shared flags are spelt one way in every command that takes them", () => {
    const program = buildProgram("0.0.0", () => undefined);
    const spellings = (long: string) => [...new Set(program.commands.flatMap((command) => command.options.filter((option) => option.long === long).map((option) => option.flags)))];
    assert.deepEqual(spellings("--container"), [FLAGS.container]);
    assert.deepEqual(spellings("--tag"), [FLAGS.tag]);
    assert.deepEqual(spellings("--python"), [FLAGS.python]);
    assert.deepEqual(spellings("--output").sort(), [FLAGS.output, FLAGS.outputFile].sort());
    assert.deepEqual(spellings("--insecure"), ["--insecure"]);
    assert.deepEqual(spellings("--ca-file"), ["--ca-file <FILE>"]);
  });

  test("a command gets its options typed, with defaults, and nothing it did not declare", async () => {
    let seen: unknown;
    const spec = defineCommand("try", "a command for this test", {
      options: {
        container: required(FLAGS.container, "a directory"),
        link: choice("--link <MODE>", "how", ["auto", "copy"], "auto"),
        env: environment("-e, --env <KEY=VALUE>", "variables"),
        force: flag("--force", "replace"),
        tag: text(FLAGS.tag, "a name"),
        ...registryOptions(),
        json: json(),
      },
      arguments: { "[words...]": "words" },
      run(options, args) {
        // Typed by the declaration: these assignments compile only because no option is `unknown`.
        const link: "auto" | "copy" = options.link;
        const env: Record<string, string> = options.env;
        const dir: string = options.container;
        seen = { link, env, dir, force: options.force, tag: options.tag, json: options.json, connection: connection(options), args };
        return Promise.resolve();
      },
    });
    await programWith(spec).parseAsync(["node", "pypakr", "try", "-c", "/x", "-e", "A=1", "--debug", "-e", "B=2=3", "--ca-file", "ca.pem", "w1", "w2"]);
    assert.deepEqual(seen, { link: "auto", env: { A: "1", B: "2=3" }, dir: "/x", force: false, tag: undefined, json: false, connection: { caFile: "ca.pem" }, args: ["w1", "w2"] });
    await programWith(spec).parseAsync(["node", "pypakr", "try", "-c", "/y", "--link", "copy", "--force", "-t", "app:1", "--insecure", "--json"]);
    assert.deepEqual(seen, { link: "copy", env: {}, dir: "/y", force: true, tag: "app:1", json: true, connection: { insecure: true }, args: [] });
  });

  test("a malformed --env is a usage error that says how to write it", async () => {
    const spec = defineCommand("try", "a command for this test", { options: { env: environment("-e, --env <KEY=VALUE>", "variables") }, async run() {} });
    await assert.rejects(programWith(spec).parseAsync(["node", "pypakr", "try", "-e", "no-equals"]), (error) => error instanceof PypakrError && /--env "no-equals" is not KEY=VALUE/.test(error.message) && error.hint === "Write it as --env NAME=value.");
  });

  test("an option must be read by the name commander gives it", () => {
    const spec = defineCommand("try", "a command for this test", { options: { dir: required(FLAGS.container, "a directory") }, async run() {} });
    assert.throws(() => spec.define(new Command("try")), /--container <DIR> is read as container, not dir/);
  });
});
