import { writeErr, writeOut } from "../../util/log.js";
import { defineCommand } from "../command.js";
import { connection, flag, registryOptions, text } from "../options.js";

/** Reads all of stdin; a password piped in ends with a newline that is not part of it. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/** Asks at the terminal; the password's echo is muted. */
async function ask(question: string, secret: boolean): Promise<string> {
  const readline = await import("node:readline");
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const output = rl as unknown as { _writeToOutput?: (text: string) => void };
  try {
    return await new Promise<string>((resolve) => {
      rl.question(question, resolve);
      if (secret) output._writeToOutput = () => undefined;
    });
  } finally {
    rl.close();
    if (secret) writeErr("\n");
  }
}

export const login = defineCommand("login", "check and store credentials for a registry (where docker login keeps them)", {
  needsConfig: false,
  options: {
    username: text("-u, --username <USER>", "user name (asked for at a terminal when not given)"),
    passwordStdin: flag("--password-stdin", "read the password (or token) from stdin"),
    password: text("-p, --password <PASSWORD>", "the password (visible to other users of this machine: prefer --password-stdin)"),
    ...registryOptions(),
  },
  arguments: { "<REGISTRY>": "HOST[:PORT]" },
  async run(options, args) {
    const { login: check } = await import("../../registry/index.js");
    const { usageError } = await import("../../util/errors.js");
    const interactive = Boolean(process.stdin.isTTY);
    if (options.passwordStdin && options.password !== undefined) throw usageError("usage", "--password and --password-stdin exclude each other", "Give the password one way.");
    let username = options.username ?? "";
    if (!username) {
      if (!interactive || options.passwordStdin) throw usageError("usage", "no user name given", "Pass -u USER (with --password-stdin to read the password from stdin).");
      username = (await ask("Username: ", false)).trim();
    }
    let password: string;
    if (options.passwordStdin) password = await readStdin();
    else if (options.password !== undefined) {
      writeErr("pypakr: warning: a password on the command line can be seen by other users; use --password-stdin\n");
      password = options.password;
    } else if (interactive) password = await ask("Password: ", true);
    else throw usageError("usage", "no password given", "Pipe it in with --password-stdin.");
    if (!username || !password) throw usageError("usage", "the user name and the password must not be empty", "Give both.");
    await check(args[0] ?? "", { username, secret: password }, connection(options));
    writeOut("Login succeeded\n");
  },
});
