/** Trees pypakr writes for the sandboxed runtime's Python to read, which may run as nobody (see runInRootfs). */
import * as fs from "node:fs/promises";
import * as path from "node:path";

export async function chmodTree(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(full);
    else if (entry.isFile()) await fs.chmod(full, 0o644);
  }
}
