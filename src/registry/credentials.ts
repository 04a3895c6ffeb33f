/**
 * Credentials where Docker keeps them, so `docker login` and `pypakr login`
 * share them: `$DOCKER_CONFIG/config.json` (default ~/.docker/config.json),
 * `auths[HOST].auth` = base64("user:password"), or a credential helper named
 * by `credHelpers[HOST]` or `credsStore` (the program docker-credential-NAME,
 * spoken to with `get`/`store`/`erase` and JSON on stdin/stdout). The file is
 * written whole, atomically, mode 0600, keeping every key pypakr does not use.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as z from "zod";
import { describe, isErrno, PypakrError } from "../util/errors.js";
import { parseJson } from "../util/json.js";
import { shellWord } from "../util/printable.js";
import { writeFileAtomic } from "../util/fs.js";
import { capture, type CommandResult } from "../util/process.js";
import { registerSecret, scrub } from "./secrets.js";
import { DOCKER_HUB_LOGIN_KEY, isDockerHub } from "./reference.js";

export interface Credentials {
  username: string;
  /** A password, or a registry token when username is "<token>" (Docker's convention for identity tokens). */
  secret: string;
}

/** Docker's marker for an identity (refresh) token in place of a password. */
export const IDENTITY_TOKEN_USER = "<token>";

/**
 * The parts of Docker's config.json pypakr reads, in the types Docker's own
 * client requires (null being "absent", as Go reads it); every other key and
 * field is kept as it is, since the file is written back whole.
 */
const authEntrySchema = z.looseObject({ auth: z.string().nullish(), identitytoken: z.string().nullish() }).nullable();
const dockerConfigSchema = z.looseObject({
  auths: z.record(z.string(), authEntrySchema).nullish(),
  credsStore: z.string().nullish(),
  credHelpers: z.record(z.string(), z.string()).nullish(),
});
type DockerConfig = z.infer<typeof dockerConfigSchema>;

/** Lengths no real login comes near: a helper's answer is read into memory and sent in headers. */
const MAX_USERNAME_CHARS = 4096;
const MAX_SECRET_CHARS = 64 * 1024;

/** All a helper may print: an answer is a few fields of at most those lengths. */
const MAX_HELPER_OUTPUT_CHARS = 1024 * 1024;

/** What `docker-credential-NAME get` prints (Docker's credential helper protocol). */
const helperAnswerSchema = z.object({
  ServerURL: z.string().max(MAX_USERNAME_CHARS).nullish(),
  Username: z.string().max(MAX_USERNAME_CHARS),
  Secret: z.string().max(MAX_SECRET_CHARS),
});

export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG || path.join(env.HOME ?? os.homedir(), ".docker"), "config.json");
}

async function readDockerConfig(file: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    if (isErrno(error, "ENOENT")) return {};
    throw new PypakrError(`cannot read ${file}: ${describe(error)}`, { code: "credentials-unreadable", hint: "Check the file's permissions (DOCKER_CONFIG names its directory)." });
  }
  // The message names the first field that is wrong, never a value (the file holds secrets).
  return parseJson(text, dockerConfigSchema, file, { code: "credentials-unreadable", hint: "Fix or remove the file, then run pypakr login again." });
}

async function writeDockerConfig(file: string, config: DockerConfig): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify(config, null, "\t") + "\n", 0o600);
}

/** auths keys are sometimes URLs (https://host/v1/): compare hosts. */
function authsKeyHost(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "").toLowerCase();
}

function helperFor(config: DockerConfig, registry: string): string | undefined {
  const named = config.credHelpers?.[registry];
  return typeof named === "string" && named ? named : typeof config.credsStore === "string" && config.credsStore ? config.credsStore : undefined;
}

/** Runs docker-credential-NAME ACTION with `input` on stdin; resolves to its stdout, or null when it says "not found". */
export async function runCredentialHelper(helper: string, action: "get" | "store" | "erase", input: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) throw new PypakrError(`the credential helper name "${helper}" in ${dockerConfigFile(env)} is not valid`, { code: "credential-helper-failed", hint: "Fix credsStore / credHelpers in that file." });
  const program = `docker-credential-${helper}`;
  let result: CommandResult;
  try {
    result = await capture(program, [action], { env, input, timeoutMs: 60_000, maxOutputChars: MAX_HELPER_OUTPUT_CHARS });
  } catch (error) {
    throw isErrno(error, "ENOENT")
      ? new PypakrError(`the credential helper ${program} named in ${dockerConfigFile(env)} is not on PATH`, { code: "credential-helper-failed", hint: `Install ${program}, or remove it from credsStore / credHelpers in that file.` })
      : new PypakrError(`cannot run the credential helper ${program}: ${describe(error)}`, { code: "credential-helper-failed", hint: "Check the helper's installation." });
  }
  if (result.overflowed) {
    throw new PypakrError(`the credential helper ${program} printed more than ${MAX_HELPER_OUTPUT_CHARS} characters to ${action} credentials; it was stopped`, { code: "credential-helper-failed", hint: `Check ${program}, or remove it from credsStore / credHelpers in ${dockerConfigFile(env)}.` });
  }
  if (result.code === 0) return result.stdout;
  // Docker's helpers answer a missing entry with this text on stdout and exit 1.
  const said = `${result.stdout}\n${result.stderr}`;
  if (/credentials not found/i.test(said)) return null;
  const firstLine = scrub(said.trim().split("\n")[0] ?? "").slice(0, 200);
  throw new PypakrError(`the credential helper ${program} failed to ${action} credentials${firstLine ? `: ${firstLine}` : ""} (exit code ${result.code})`, { code: "credential-helper-failed", hint: `Check ${program}, or remove it from credsStore / credHelpers in ${dockerConfigFile(env)}.` });
}

/** The credentials stored for a registry (host[:port]), or null. */
export async function getCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | null> {
  const file = dockerConfigFile(env);
  const config = await readDockerConfig(file);
  const helper = helperFor(config, registry);
  // Docker keeps its Hub login under https://index.docker.io/v1/, whichever name the Hub was written as.
  const hub = isDockerHub(registry);
  if (helper) {
    const output = await runCredentialHelper(helper, "get", hub ? DOCKER_HUB_LOGIN_KEY : registry, env);
    if (output !== null) {
      const answer = parseJson(output, helperAnswerSchema, "", {
        code: "credential-helper-failed",
        message: (detail) => `the credential helper docker-credential-${helper} gave an answer pypakr cannot use (${detail})`,
        hint: `Check the helper's installation, or remove it from credsStore / credHelpers in ${file}.`,
      });
      if (answer.Secret) {
        registerSecret(answer.Secret);
        return { username: answer.Username, secret: answer.Secret };
      }
    }
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    const host = authsKeyHost(key);
    if (!(host === registry || (hub && isDockerHub(host))) || !entry) continue;
    if (typeof entry.identitytoken === "string" && entry.identitytoken) {
      registerSecret(entry.identitytoken);
      return { username: IDENTITY_TOKEN_USER, secret: entry.identitytoken };
    }
    if (typeof entry.auth === "string" && entry.auth) {
      registerSecret(entry.auth);
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon <= 0) throw new PypakrError(`the stored login for ${registry} in ${file} is malformed`, { code: "credentials-unreadable", hint: `Run pypakr login ${shellWord(registry)} again.` });
      registerSecret(decoded.slice(colon + 1));
      return { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
    }
  }
  return null;
}

/** Stores credentials: in the configured helper if any, else in config.json. Returns where they went. */
export async function storeCredentials(registry: string, credentials: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = dockerConfigFile(env);
  const config = await readDockerConfig(file);
  const helper = helperFor(config, registry);
  if (helper) {
    await runCredentialHelper(helper, "store", JSON.stringify({ ServerURL: registry, Username: credentials.username, Secret: credentials.secret }), env);
    // An old clear-text entry would otherwise shadow nothing but still sit on disk.
    if (config.auths?.[registry]) {
      config.auths[registry] = {};
      await writeDockerConfig(file, config);
    }
    return `docker-credential-${helper}`;
  }
  config.auths ??= {};
  config.auths[registry] = { auth: Buffer.from(`${credentials.username}:${credentials.secret}`).toString("base64") };
  await writeDockerConfig(file, config);
  return file;
}

/** Removes a registry's credentials (helper and file). Resolves to false when there were none. */
export async function eraseCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = dockerConfigFile(env);
  const config = await readDockerConfig(file);
  let removed = false;
  const helper = helperFor(config, registry);
  if (helper) removed = (await runCredentialHelper(helper, "erase", registry, env)) !== null;
  const keys = Object.keys(config.auths ?? {}).filter((key) => authsKeyHost(key) === registry);
  if (keys.length > 0 && config.auths) {
    for (const key of keys) {
      removed ||= Boolean(config.auths[key]?.auth || config.auths[key]?.identitytoken);
      delete config.auths[key];
    }
    await writeDockerConfig(file, config);
  }
  return removed;
}
