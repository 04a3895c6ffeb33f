/**
 * `pypakr login` / `logout`: credentials are checked against the registry
 * (GET /v2/ through the challenge flow) before they are stored, where Docker
 * stores them (see credentials.ts).
 */
import { PypakrError } from "../util/errors.js";
import { RegistryClient, type ClientOptions } from "./client.js";
import { eraseCredentials, storeCredentials, type Credentials } from "./credentials.js";
import { registryHost } from "./reference.js";
import { registerSecret, withoutSecrets } from "./secrets.js";

export async function login(registryText: string, credentials: Credentials, options: ClientOptions = {}): Promise<{ registry: string; storedIn: string }> {
  const registry = registryHost(registryText);
  registerSecret(credentials.secret);
  return withoutSecrets(async () => {
    const client = new RegistryClient(registry, { ...options, credentials });
    try {
      const response = await client.fetch({ method: "GET", url: "/v2/" }, []);
      // The registry's own words about a refusal are in the body: read them before it is dropped.
      if (response.status !== 200) throw await client.unexpected(response, "a login check");
      await response.body.dump().catch(() => undefined);
    } catch (error) {
      if (error instanceof PypakrError && (error.code === "registry-login-required" || error.code === "registry-login-refused")) {
        throw new PypakrError(`login to ${registry} failed: the registry refused user ${credentials.username} with that password`, { code: "registry-login-refused", hint: "Check the user name and password (or token) and try again." });
      }
      throw error;
    } finally {
      await client.close();
    }
    return { registry, storedIn: await storeCredentials(registry, credentials, options.env) };
  });
}

export async function logout(registryText: string, env?: NodeJS.ProcessEnv): Promise<{ registry: string; removed: boolean }> {
  const registry = registryHost(registryText);
  return withoutSecrets(async () => ({ registry, removed: await eraseCredentials(registry, env) }));
}
