import type { Command } from "commander";

/** The connection options every command that may talk to a registry takes. */
export function defineRegistryOptions(command: Command): Command {
  return command
    .option("--insecure", "talk plain HTTP to the registry (registries on 127.0.0.0/8, ::1 and localhost get it without this)")
    .option("--ca-file <FILE>", "trust this CA certificate (PEM) for the registry's HTTPS; HTTPS even on loopback");
}

export function registryOptions(options: Record<string, unknown>): { insecure?: boolean; caFile?: string } {
  return { ...(options.insecure ? { insecure: true } : {}), ...(typeof options.caFile === "string" ? { caFile: options.caFile } : {}) };
}
