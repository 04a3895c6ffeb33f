import type { Command } from "commander";
import type { Config } from "../config/index.js";

/** What every command gets: the settings (loaded on first use) and the global flags. */
export interface CommandContext {
  readonly config: Config;
  debug: boolean;
}

/**
 * One file per command under commands/, each a CommandSpec: `define` declares
 * its arguments and options (parsing and help only), `run` hands the parsed
 * values to the domain modules, loaded lazily so `pypakr run` starts fast.
 */
export interface CommandSpec {
  name: string;
  summary: string;
  define(command: Command): void;
  /** Resolves to the exit code (0 when omitted). */
  run(options: Record<string, unknown>, args: string[], context: CommandContext): Promise<number | void>;
  /** Commands that hand the terminal to a child manage their own signals. */
  ownsSignals?: boolean;
  /** False for commands that never read the settings (saves reading the config file). */
  needsConfig?: boolean;
}
