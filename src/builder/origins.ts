/**
 * Where each distribution came from: pip's install report (`pip install
 * --report FILE`, pip 23 and later) names, per item it installed, the file
 * it installed from (URL, sha256). The image keeps the file's name, its hash
 * and an https URL (a file: URL is a path of the building machine, worth
 * nothing elsewhere): what a lock file (PEP 751) or an SBOM needs.
 *
 * The report is pip's output on the user's build, not pypakr's own: an entry
 * of another shape, or one that does not pass the image format's schema, is
 * passed over, and a report that is missing or unreadable means no origins,
 * never a failed build.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { type DistributionOrigin, distributionOriginSchema } from "../image/index.js";
import { tryParseJson } from "../util/json.js";
import { normalizedName } from "./layers.js";

/** pip's report holds every installed item's metadata too; hundreds of them stay far below this. */
const MAX_REPORT_BYTES = 64 * 1024 * 1024;
const MAX_ITEMS = 10_000;
/** The release that made the report format stable (version "1"); 22.2 and 22.3 wrote an experimental one. */
const FIRST_PIP_WITH_REPORT = [23, 0] as const;

const reportSchema = z.object({ version: z.literal("1"), install: z.array(z.unknown()).max(MAX_ITEMS) });
const itemSchema = z.object({
  metadata: z.object({ name: z.string().max(200), version: z.string().max(64) }),
  download_info: z.object({
    url: z.string().max(4096),
    archive_info: z.object({ hash: z.string().max(200).optional(), hashes: z.record(z.string(), z.string().max(200)).optional() }).optional(),
  }),
});

export interface ReportedOrigin {
  version: string;
  origin: DistributionOrigin;
}

/**
 * The pip of the work env, as MAJOR.MINOR read from its dist-info directory
 * name (running pip only to ask would cost a second), or null when there is
 * none pypakr can read.
 */
async function pipVersion(workEnv: string): Promise<[number, number] | null> {
  const lib = path.join(workEnv, "lib");
  for (const python of await fs.readdir(lib).catch(() => [] as string[])) {
    const sitePackages = path.join(lib, python, "site-packages");
    for (const name of await fs.readdir(sitePackages).catch(() => [] as string[])) {
      const match = /^pip-(\d+)\.(\d+)[^/]*\.dist-info$/.exec(name);
      if (match) return [Number(match[1]), Number(match[2])];
    }
  }
  return null;
}

/** `--report FILE` for the work env's pip when it writes the stable report; else nothing (the image then records no origins). */
export async function reportArguments(workEnv: string, reportFile: string): Promise<string[]> {
  const version = await pipVersion(workEnv);
  if (!version) return [];
  const [major, minor] = version;
  const recent = major > FIRST_PIP_WITH_REPORT[0] || (major === FIRST_PIP_WITH_REPORT[0] && minor >= FIRST_PIP_WITH_REPORT[1]);
  return recent ? ["--report", reportFile] : [];
}

/** The sha256 of an archive_info: `hashes.sha256`, else its `hash` when written `sha256=...`. */
function sha256Of(archive: { hash?: string | undefined; hashes?: Record<string, string> | undefined }): string | undefined {
  const value = archive.hashes?.sha256 ?? (archive.hash?.startsWith("sha256=") ? archive.hash.slice("sha256=".length) : undefined);
  return value?.toLowerCase();
}

/** The origin an item's download_info gives, or null when it names no file with a sha256 (a local directory, a VCS checkout). */
export function originOf(downloadInfo: z.infer<typeof itemSchema>["download_info"]): DistributionOrigin | null {
  const sha256 = downloadInfo.archive_info ? sha256Of(downloadInfo.archive_info) : undefined;
  if (!sha256) return null;
  let url: URL;
  try {
    url = new URL(downloadInfo.url);
  } catch {
    return null;
  }
  let filename: string;
  try {
    filename = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf("/") + 1));
  } catch {
    return null;
  }
  // Only an address anyone may fetch again: https, no login, no query (a signature or token may ride there).
  const shareable = url.protocol === "https:" && !url.username && !url.password && !url.search;
  url.hash = "";
  const withUrl = distributionOriginSchema.safeParse({ filename, sha256, ...(shareable ? { url: url.href } : {}) });
  if (withUrl.success) return withUrl.data;
  const bare = distributionOriginSchema.safeParse({ filename, sha256 });
  return bare.success ? bare.data : null;
}

/**
 * The origins pip's report at `file` gives, by PEP 503-normalized name; an
 * empty map when there is no usable report. A name listed twice is left
 * without an origin: which file it came from is not known.
 */
export async function readInstallReport(file: string): Promise<Map<string, ReportedOrigin>> {
  const origins = new Map<string, ReportedOrigin>();
  const stat = await fs.stat(file).catch(() => null);
  if (!stat?.isFile() || stat.size > MAX_REPORT_BYTES) return origins;
  const report = tryParseJson(await fs.readFile(file, "utf8").catch(() => ""), reportSchema);
  const seen = new Set<string>();
  for (const entry of report?.install ?? []) {
    const item = itemSchema.safeParse(entry);
    if (!item.success) continue;
    const name = normalizedName(item.data.metadata.name);
    if (seen.has(name)) {
      origins.delete(name);
      continue;
    }
    seen.add(name);
    const origin = originOf(item.data.download_info);
    if (origin) origins.set(name, { version: item.data.metadata.version, origin });
  }
  return origins;
}

/** The origin recorded for a distribution of this name and version, if the report gave one. */
export function originFor(origins: ReadonlyMap<string, ReportedOrigin>, name: string, version: string): DistributionOrigin | undefined {
  const reported = origins.get(normalizedName(name));
  return reported && reported.version === version ? reported.origin : undefined;
}
