/**
 * Installing into the work env: the source's own `setup` script, as in the
 * original, or pip on its requirements / project file.
 */
import * as path from "node:path";
import { venvEnvironment } from "../python/index.js";
import { PypakrError } from "../util/errors.js";
import { progress } from "../util/log.js";
import { runShowingOutput } from "../util/process.js";
import { reportArguments } from "./origins.js";
import type { SourceFiles } from "./source.js";

/** `report`: pip's arguments that write its install report (see origins.ts), for the installs pip itself runs. */
function installCommand(workEnv: string, files: SourceFiles, report: string[]): { command: string; args: string[]; label: string } | null {
  const python = path.join(workEnv, "bin", "python");
  // No bytecode: images never hold it (see normalizeRecord), and compiling is a large share of pip's time.
  const pip = ["-m", "pip", "install", "--disable-pip-version-check", "--no-compile"];
  if (files.setup === "executable") return { command: "./setup", args: [], label: "setup" };
  if (files.setup === "not-executable") {
    throw new PypakrError("the source's setup script is not executable", { code: "build-failed", hint: "Make it executable (chmod +x setup) and build again." });
  }
  if (files.requirements) return { command: python, args: [...pip, ...report, "-r", "requirements.txt"], label: "pip install -r requirements.txt" };
  if (files.pyproject) return { command: python, args: [...pip, ...report, "."], label: "pip install ." };
  return null;
}

/**
 * The work env's own, plus pip told not to compile bytecode for a setup
 * script's installs too, unless the user said otherwise. pip reads the
 * variable of a --no-* flag as the value of what the flag turns off, so
 * "0" (false) is what means "do not compile".
 */
function buildEnvironment(workEnv: string): NodeJS.ProcessEnv {
  const env = venvEnvironment(workEnv);
  env.PIP_NO_COMPILE ??= "0";
  return env;
}

/**
 * Runs the install with the work env active: working directory is its root,
 * VIRTUAL_ENV and PATH point at it, and the rest of the user's environment
 * passes through so PIP_INDEX_URL and friends work. Output is shown live,
 * once: the error names the step and its exit, not its output again.
 * Like a Docker RUN step, the step is over when its command is: whatever it
 * left running in its process group is ended (src/util/process-group.ts).
 * A pip install writes its report to `reportFile`, which must lie outside
 * the work env (all of that goes into the image).
 */
export async function install(workEnv: string, files: SourceFiles, reportFile: string): Promise<void> {
  const command = installCommand(workEnv, files, await reportArguments(workEnv, reportFile));
  if (!command) {
    progress("the source has no setup, requirements.txt or pyproject.toml; the image holds its files only");
    return;
  }
  progress(`running ${command.label}`);
  let result;
  try {
    result = await runShowingOutput(command.command, command.args, { cwd: workEnv, env: buildEnvironment(workEnv) });
  } catch (error) {
    throw new PypakrError(`cannot start ${command.label}: ${(error as Error).message}`, {
      code: "build-failed",
      hint: command.label === "setup" ? "Check setup's first line (#!/bin/sh or similar) names an interpreter that exists." : undefined,
    });
  }
  if (result.code === 0) return;
  const how = result.signal ? `was killed by ${result.signal}` : `failed with exit code ${result.code}`;
  // Its output was shown whole as it ran, just above: repeating its last lines (cut) only made it appear twice.
  throw new PypakrError(`${command.label} ${how} (its output is above)`, { code: "build-failed", hint: `Fix ${command.label === "setup" ? "the setup script" : "the requirements"} and build again; nothing was written.` });
}
