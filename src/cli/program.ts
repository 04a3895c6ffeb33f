import { Command, CommanderError, Help } from "commander";
import { type Config, defaultConfigFile, loadConfig } from "../config/index.js";
import { setQuiet, writeErr, writeOut } from "../util/log.js";
import type { CommandSpec } from "./command.js";
import { createContainer } from "./commands/create-container.js";
import { createImage } from "./commands/create-image.js";
import { init } from "./commands/init.js";
import { inspect } from "./commands/inspect.js";
import { run } from "./commands/run.js";
import { images } from "./commands/images.js";
import { rmi } from "./commands/rmi.js";
import { save } from "./commands/save.js";
import { load } from "./commands/load.js";
import { gc } from "./commands/gc.js";
import { store } from "./commands/store.js";
import { verify } from "./commands/verify.js";
import { didYouMean, overview } from "./help.js";
import { USAGE_EXIT_CODE } from "../util/errors.js";
import { relocate } from "./commands/relocate.js";
import { cleanUpOnSignals } from "./signals.js";
import { push } from "./commands/push.js";
import { pull } from "./commands/pull.js";
import { login } from "./commands/login.js";
import { logout } from "./commands/logout.js";
import { serve } from "./commands/serve.js";
import { exportCommand } from "./commands/export.js";
import { sbom } from "./commands/sbom.js";

const COMMANDS: CommandSpec[] = [init, createImage, createContainer, run, inspect, images, rmi, save, load, push, pull, login, logout, gc, store, verify, relocate, serve, exportCommand, sbom];

export function buildProgram(version: string, setExitCode: (code: number) => void): Command {
  const program = new Command("pypakr");
  program
    .version(version, "-V, --version", "print pypakr's version")
    .option("--debug", "show stack traces for errors")
    .option("-q, --quiet", "print no progress (errors still go to stderr)")
    .enablePositionalOptions()
    .exitOverride()
    // Commander's own output (help, usage errors quoting the command line) goes through the same door as ours.
    .configureOutput({ writeOut, writeErr, outputError: (text, write) => write(`pypakr: ${text.replace(/^error: /, "error: ")}`) })
    .showHelpAfterError("(run `pypakr help` for every command and option)");
  program.configureHelp({
    formatHelp: (command, helper) => (command === program ? overview(program, process.env.PYPAKR_CONFIG ?? defaultConfigFile()) : Help.prototype.formatHelp.call(helper, command, helper)),
  });
  // Commander's own help command answers `help nosuch` with the whole help on stderr and never says why.
  program.helpCommand(false);
  program
    .command("help [command]")
    .description("this help, or one command's")
    .action((name: string | undefined) => {
      const command = name === undefined ? program : program.commands.find((candidate) => candidate.name() === name);
      if (command) return command.outputHelp();
      const names = program.commands.map((candidate) => candidate.name());
      program.error(`error: unknown command '${name}'${didYouMean(name ?? "", names)}`, { code: "commander.unknownCommand", exitCode: USAGE_EXIT_CODE });
    });

  for (const spec of COMMANDS) {
    const command = program.command(spec.name).description(spec.summary).exitOverride();
    spec.define(command);
    // Global flags work after the command name too (`pypakr create-image ... -q`), except for run,
    // whose words after the command belong to the program it runs.
    if (!spec.ownsSignals) command.option("--debug", "show stack traces for errors").option("-q, --quiet", "print no progress");
    command.action(async () => {
      const globals = { ...program.opts(), ...command.opts() };
      setQuiet(globals.quiet === true);
      if (!spec.ownsSignals) cleanUpOnSignals();
      // `run` never reads the settings, so they are loaded only for commands that declare a need.
      const config = spec.needsConfig === false ? null : await loadConfig();
      const context = {
        get config(): Config {
          if (!config) throw new Error(`${spec.name} declared it needs no settings`);
          return config;
        },
        debug: globals.debug === true,
      };
      const code = await spec.run(command.opts(), command.args, context);
      setExitCode(code ?? 0);
    });
  }
  return program;
}

export function isCommanderExit(error: unknown): error is CommanderError {
  return error instanceof CommanderError;
}
