import type { Command } from "commander";
import * as z from "zod";
import type { Config } from "../config/index.js";
import { commanderOption } from "./options.js";

/** What every command gets: the settings (loaded on first use) and the global flags. */
export interface CommandContext {
  readonly config: Config;
  debug: boolean;
}

/** A command's options by the name it reads them by (commander's camelCase of the long flag), each from options.ts. */
export type OptionShape = Record<string, z.ZodType>;

/**
 * One file per command under commands/, each made by defineCommand (as
 * npm/cli's commands share one base class): the options and arguments are
 * its parsing and help, `run` hands the parsed values to ONE domain
 * function, loaded lazily so `pypakr run` starts fast, and prints what it
 * returns (output.ts).
 */
export interface CommandDefinition<O extends OptionShape> {
  options: O;
  /** Positional arguments in order, as commander writes them ("<IMAGE>", "[args...]"), with their help. */
  arguments?: Record<string, string>;
  /** Options after the arguments belong to the program run (`run ... -- ARGS`). */
  passThrough?: boolean;
  /** Commands that hand the terminal to a child manage their own signals. */
  ownsSignals?: boolean;
  /** False for commands that never read the settings (saves reading the config file). */
  needsConfig?: boolean;
  /** Resolves to the exit code (0 when omitted). */
  run(options: z.output<z.ZodObject<O>>, args: string[], context: CommandContext): Promise<number | void>;
}

/** A command as the program registers it. */
export interface CommandSpec {
  name: string;
  summary: string;
  ownsSignals?: boolean;
  needsConfig?: boolean;
  define(command: Command): void;
  /** Parses commander's option values (once, by the command's schema), then runs the command. */
  run(values: Record<string, unknown>, args: string[], context: CommandContext): Promise<number | void>;
}

export function defineCommand<O extends OptionShape>(name: string, summary: string, definition: CommandDefinition<O>): CommandSpec {
  const schema = z.object(definition.options);
  return {
    name,
    summary,
    ...(definition.ownsSignals !== undefined ? { ownsSignals: definition.ownsSignals } : {}),
    ...(definition.needsConfig !== undefined ? { needsConfig: definition.needsConfig } : {}),
    define(command) {
      for (const [argument, description] of Object.entries(definition.arguments ?? {})) command.argument(argument, description);
      for (const [key, option] of Object.entries(definition.options)) {
        const declared = commanderOption(option);
        if (declared.attributeName() !== key) throw new Error(`${name}: option ${declared.flags} is read as ${declared.attributeName()}, not ${key}`);
        command.addOption(declared);
      }
      if (definition.passThrough) command.passThroughOptions();
    },
    run: (values, args, context) => definition.run(schema.parse(values), args, context),
  };
}
