/**
 * The hub's index: one SQLite file (node:sqlite) holding what the pages show,
 * computed once when a tag is indexed, so that every page is a few indexed
 * reads. Repositories, their tags (each with the JSON of its IndexedTag), one
 * row per distribution of a tag (for version searches), a full-text table
 * over repository names and descriptions, and a cache of what each layer's
 * METADATA said (layers are shared by many tags).
 *
 * Everything stored came from a registry, an image or an admin: values are
 * always bound, never spliced into SQL, and free text becomes FTS5 syntax only
 * as quoted strings. The repository descriptions are the one thing here that
 * is not a cache of the registry (an admin wrote them): the file is migrated,
 * never dropped.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { DistributionMetadata } from "../sbom/index.js";
import { describe, PypakrError } from "../util/errors.js";
import { excerptOf, plainTextOfHtml } from "./plain-text.js";
import type {
  DistributionHit,
  IndexedTag,
  RepositoryHit,
  RepositoryPage,
  SearchQuery,
  SearchResults,
  TagSummary,
} from "./types.js";
import { keyRange, normalizedName, specifierClauses, versionKey, versionSatisfies } from "./versions.js";

/** The schema this code reads and writes, kept in PRAGMA user_version. */
const SCHEMA_VERSION = 1;

/** Each step takes the file from version N (its index) to N + 1. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE repositories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    description_html TEXT NOT NULL DEFAULT '',
    description_text TEXT NOT NULL DEFAULT '',
    tag_count INTEGER NOT NULL DEFAULT 0,
    last_pushed_at TEXT
  ) STRICT;
  -- The repository list: newest push first, repositories without tags left out.
  CREATE INDEX repositories_by_push ON repositories (last_pushed_at DESC, name) WHERE tag_count > 0;

  CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    pushed_at TEXT NOT NULL,
    pushed_by TEXT,
    compressed_size INTEGER NOT NULL,
    kind TEXT NOT NULL,
    python TEXT,
    distribution_count INTEGER NOT NULL,
    document TEXT NOT NULL,
    UNIQUE (repository_id, tag)
  ) STRICT;
  CREATE INDEX tags_by_push ON tags (pushed_at, id);
  CREATE INDEX tags_of_repository_by_push ON tags (repository_id, pushed_at);
  CREATE INDEX tags_of_repository_by_digest ON tags (repository_id, digest);

  -- pushed_at is the tag's, repeated so that "newest push first" needs no join.
  CREATE TABLE distributions (
    tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    name_normalized TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    version_key TEXT,
    pushed_at TEXT NOT NULL,
    license TEXT
  ) STRICT;
  -- A search by name and version range, newest push first: the name's rows in push order, the version range tested
  -- inside the index (covering: no table reads), so the first rows found are the ones shown. A rare version of a
  -- common name reads at most that name's rows of the index, one per tag.
  CREATE INDEX distributions_by_name_push_version ON distributions (name_normalized, pushed_at, tag_id, version_key, version, name);
  CREATE INDEX distributions_of_tag ON distributions (tag_id);

  -- rowid = repositories.id, only for repositories with tags (what a search may find). The default tokenizer splits
  -- team/flask-app into team, flask, app; a quoted query string is a phrase of the same tokens, so the whole name and
  -- each part of it match.
  CREATE VIRTUAL TABLE repository_text USING fts5 (name, description, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');

  CREATE TABLE layer_metadata (
    digest TEXT PRIMARY KEY,
    metadata TEXT
  ) STRICT;
  `,
];

/** What a query may ask for at most (a page never shows more). */
const MAX_LIMIT = 1000;
/** Words of a free-text query that count (a pasted paragraph is not a search). */
const MAX_QUERY_WORDS = 16;
const EXCERPT_LENGTH = 200;
/** Cached satisfies() answers kept at most (a few MB): then the cache starts again. */
const MAX_VERDICTS = 50_000;

const UNUSABLE_HINT = "Move the file away and start the hub again: it indexes the registry anew (repository descriptions written in the hub are lost).";

interface SummaryRow {
  repository: string;
  tag: string;
  digest: string;
  pushed_at: string;
  pushed_by: string | null;
  compressed_size: number;
  kind: string;
  python: string | null;
  distribution_count: number;
}

interface RepositoryRow {
  id: number;
  name: string;
  description: string;
  description_html: string;
  description_text: string;
  tag_count: number;
  last_pushed_at: string | null;
}

interface DistributionRow {
  repository: string;
  tag: string;
  pushed_at: string;
  name: string;
  version: string;
}

const SUMMARY_COLUMNS = `r.name AS repository, t.tag, t.digest, t.pushed_at, t.pushed_by, t.compressed_size, t.kind, t.python, t.distribution_count`;

function clampLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.min(Math.floor(limit), MAX_LIMIT)) : 0;
}

function repositoryHit(row: RepositoryRow): RepositoryHit {
  return { name: row.name, excerpt: excerptOf(row.description_text, EXCERPT_LENGTH), tagCount: row.tag_count, lastPushedAt: row.last_pushed_at };
}

function summaryOf(row: SummaryRow): TagSummary {
  return {
    repository: row.repository,
    tag: row.tag,
    digest: row.digest,
    pushedAt: row.pushed_at,
    pushedBy: row.pushed_by,
    compressedSize: row.compressed_size,
    kind: row.kind === "ordinary" ? "ordinary" : "pypakr",
    python: row.python,
    distributionCount: row.distribution_count,
  };
}

/** UTC ISO with milliseconds, so that string order is time order ("…00Z" would sort after "…00.5Z"). */
function normalizedTime(value: string): string {
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) {
    throw new PypakrError(`The push time "${value}" is not a date`, { code: "registry-misbehaved", hint: "The registry's event or the indexer gave a time the hub cannot read." });
  }
  return time.toISOString();
}

/** The one-line license a distribution declares: its SPDX expression, else its License field, else its classifiers. */
function licenseText(metadata: DistributionMetadata | null): string | null {
  if (metadata === null) return null;
  return metadata.licenseExpression ?? metadata.license ?? (metadata.licenseClassifiers.length > 0 ? metadata.licenseClassifiers.join(", ") : null);
}

/**
 * Free text as FTS5 syntax: every word a quoted string (so AND, NEAR, *, ^,
 * quotes and column filters are only words), the last one a prefix, for
 * search-as-you-type. Words without a letter or digit are dropped, since they
 * hold no token; null when none is left.
 */
export function ftsQuery(text: string): string | null {
  const words = text
    .split(/\s+/)
    .filter((word) => /[\p{L}\p{N}]/u.test(word))
    .slice(0, MAX_QUERY_WORDS);
  if (words.length === 0) return null;
  return words.map((word, index) => `"${word.replaceAll('"', '""')}"${index === words.length - 1 ? "*" : ""}`).join(" ");
}

export class HubIndex {
  private transactionDepth = 0;
  /** "specifier\nversion" → whether the version satisfies it: parsing versions is most of a version search's time. */
  private readonly verdicts = new Map<string, boolean>();
  private readonly statements;

  private constructor(private readonly db: DatabaseSync) {
    this.statements = {
      repositoryByName: db.prepare(`SELECT * FROM repositories WHERE name = ?`),
      insertRepository: db.prepare(`INSERT INTO repositories (name) VALUES (?) RETURNING id`),
      insertRepositoryText: db.prepare(`INSERT INTO repository_text (rowid, name, description) VALUES (?, ?, ?)`),
      deleteRepository: db.prepare(`DELETE FROM repositories WHERE id = ?`),
      deleteRepositoryText: db.prepare(`DELETE FROM repository_text WHERE rowid = ?`),
      repositoryTextExists: db.prepare(`SELECT 1 FROM repository_text WHERE rowid = ?`),
      setDescription: db.prepare(`UPDATE repositories SET description = ?, description_html = ?, description_text = ? WHERE id = ?`),
      refreshRepository: db.prepare(
        `UPDATE repositories SET
           tag_count = (SELECT count(*) FROM tags WHERE repository_id = :id),
           last_pushed_at = (SELECT max(pushed_at) FROM tags WHERE repository_id = :id)
         WHERE id = :id`,
      ),
      repositoryState: db.prepare(`SELECT name, tag_count, description, description_text FROM repositories WHERE id = ?`),
      repositoryNames: db.prepare(`SELECT name FROM repositories ORDER BY name`),
      deleteTag: db.prepare(`DELETE FROM tags WHERE repository_id = ? AND tag = ?`),
      insertTag: db.prepare(
        `INSERT INTO tags (repository_id, tag, digest, media_type, pushed_at, pushed_by, compressed_size, kind, python, distribution_count, document)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      ),
      insertDistribution: db.prepare(
        `INSERT INTO distributions (tag_id, name_normalized, name, version, version_key, pushed_at, license) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      tagsOnDigest: db.prepare(`SELECT tag FROM tags WHERE repository_id = ? AND digest = ? ORDER BY tag`),
      deleteTagsOnDigest: db.prepare(`DELETE FROM tags WHERE repository_id = ? AND digest = ?`),
      tagDigests: db.prepare(`SELECT tag, digest FROM tags WHERE repository_id = ? ORDER BY tag`),
      tagDocument: db.prepare(`SELECT t.document FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? AND t.tag = ?`),
      layerMetadata: db.prepare(`SELECT metadata FROM layer_metadata WHERE digest = ?`),
      putLayerMetadata: db.prepare(`INSERT OR REPLACE INTO layer_metadata (digest, metadata) VALUES (?, ?)`),
      recent: db.prepare(
        `SELECT ${SUMMARY_COLUMNS} FROM tags t JOIN repositories r ON r.id = t.repository_id
         ORDER BY t.pushed_at DESC, t.id DESC LIMIT ?`,
      ),
      tagsOfRepository: db.prepare(
        `SELECT ${SUMMARY_COLUMNS} FROM tags t JOIN repositories r ON r.id = t.repository_id
         WHERE t.repository_id = ? ORDER BY t.pushed_at DESC, t.tag`,
      ),
      repositories: db.prepare(
        `SELECT name, description_text, tag_count, last_pushed_at FROM repositories WHERE tag_count > 0
         ORDER BY last_pushed_at DESC, name LIMIT ? OFFSET ?`,
      ),
      // Ranked on the full-text table alone, then joined for the page: only the shown rows are read.
      searchText: db.prepare(
        `SELECT r.name, r.description_text, r.tag_count, r.last_pushed_at
         FROM (SELECT rowid AS id, bm25(repository_text, 10.0, 1.0) AS score FROM repository_text WHERE repository_text MATCH ?
               ORDER BY score, rowid DESC LIMIT ?) AS hit
         JOIN repositories r ON r.id = hit.id ORDER BY hit.score, hit.id DESC`,
      ),
      distributions: db.prepare(
        `SELECT r.name AS repository, t.tag, d.pushed_at, d.name, d.version
         FROM distributions d INDEXED BY distributions_by_name_push_version
         JOIN tags t ON t.id = d.tag_id JOIN repositories r ON r.id = t.repository_id
         WHERE d.name_normalized = :name AND (:any OR (d.version_key >= :low AND d.version_key < :high))
         ORDER BY d.pushed_at DESC, d.tag_id DESC`,
      ),
      counts: db.prepare(
        `SELECT (SELECT count(*) FROM repositories WHERE tag_count > 0) AS repositories,
                (SELECT count(*) FROM tags) AS tags, (SELECT count(*) FROM distributions) AS distributions`,
      ),
    } satisfies Record<string, StatementSync>;
  }

  /** Opens (creating or migrating) the index file; ":memory:" for a throwaway one. */
  static open(file: string): HubIndex {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(file);
      db.exec("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;");
      // Read before anything writes: a file this code cannot use is left exactly as it was.
      const version = schemaVersion(db);
      if (file !== ":memory:") db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
      migrate(db, version);
      return new HubIndex(db);
    } catch (error) {
      db?.close();
      if (error instanceof PypakrError) throw error;
      throw new PypakrError(`The hub's index ${file} cannot be used: ${describe(error)}`, { code: "hub-index-unusable", hint: UNUSABLE_HINT, cause: error });
    }
  }

  close(): void {
    this.db.close();
  }

  /** Insert or replace: a re-pushed tag moves to its new digest, with its new distributions. */
  putTag(tag: IndexedTag): void {
    const pushedAt = normalizedTime(tag.pushedAt);
    const document: IndexedTag = { ...tag, pushedAt };
    const distributions = tag.layers.flatMap((layer) => (layer.distribution ? [layer.distribution] : []));
    const python = tag.python ? `${tag.python.implementation} ${tag.python.version}` : null;
    this.inTransaction(() => {
      const repositoryId = this.repositoryId(tag.repository, true);
      this.statements.deleteTag.run(repositoryId, tag.tag);
      const inserted = this.statements.insertTag.get(
        repositoryId,
        tag.tag,
        tag.digest,
        tag.mediaType,
        pushedAt,
        tag.pushedBy,
        tag.compressedSize,
        tag.kind,
        python,
        distributions.length,
        JSON.stringify(document),
      ) as { id: number };
      for (const distribution of distributions) {
        this.statements.insertDistribution.run(
          inserted.id,
          normalizedName(distribution.name),
          distribution.name,
          distribution.version,
          versionKey(distribution.version),
          pushedAt,
          licenseText(distribution.metadata),
        );
      }
      this.refreshRepository(repositoryId);
    });
  }

  removeTag(repository: string, tag: string): void {
    this.inTransaction(() => {
      const repositoryId = this.repositoryId(repository, false);
      if (repositoryId === null) return;
      this.statements.deleteTag.run(repositoryId, tag);
      this.refreshRepository(repositoryId);
    });
  }

  /** Removes every tag of the repository on that digest (as a registry's delete by digest does); returns their names. */
  removeDigest(repository: string, digest: string): string[] {
    return this.inTransaction(() => {
      const repositoryId = this.repositoryId(repository, false);
      if (repositoryId === null) return [];
      const tags = (this.statements.tagsOnDigest.all(repositoryId, digest) as { tag: string }[]).map((row) => row.tag);
      this.statements.deleteTagsOnDigest.run(repositoryId, digest);
      this.refreshRepository(repositoryId);
      return tags;
    });
  }

  removeRepository(repository: string): void {
    this.inTransaction(() => {
      const repositoryId = this.repositoryId(repository, false);
      if (repositoryId === null) return;
      this.statements.deleteRepositoryText.run(repositoryId);
      this.statements.deleteRepository.run(repositoryId);
    });
  }

  /** The admin's Markdown and its sanitized HTML; an empty description on a repository without tags forgets it. */
  setDescription(repository: string, markdown: string, html: string): void {
    const text = plainTextOfHtml(html);
    this.inTransaction(() => {
      const repositoryId = this.repositoryId(repository, true);
      this.statements.setDescription.run(markdown, html, text, repositoryId);
      this.refreshRepository(repositoryId, true);
    });
  }

  /** Every repository the index knows (with tags or a description), by name: what a reconcile compares with the catalog. */
  repositoryNames(): string[] {
    return (this.statements.repositoryNames.all() as { name: string }[]).map((row) => row.name);
  }

  /** tag → digest, for a reconcile. */
  tagDigests(repository: string): Map<string, string> {
    const repositoryId = this.repositoryId(repository, false);
    if (repositoryId === null) return new Map();
    return new Map((this.statements.tagDigests.all(repositoryId) as { tag: string; digest: string }[]).map((row) => [row.tag, row.digest]));
  }

  /** What a layer's METADATA said: null when it had none readable, undefined when the layer was never read. */
  layerMetadata(layerDigest: string): DistributionMetadata | null | undefined {
    const row = this.statements.layerMetadata.get(layerDigest) as { metadata: string | null } | undefined;
    if (row === undefined) return undefined;
    if (row.metadata === null) return null;
    try {
      return JSON.parse(row.metadata) as DistributionMetadata;
    } catch {
      return undefined; // a damaged entry is read again from the layer
    }
  }

  putLayerMetadata(layerDigest: string, metadata: DistributionMetadata | null): void {
    this.statements.putLayerMetadata.run(layerDigest, metadata === null ? null : JSON.stringify(metadata));
  }

  /** The newest pushes of all repositories. */
  recent(limit: number): TagSummary[] {
    return (this.statements.recent.all(clampLimit(limit)) as unknown as SummaryRow[]).map(summaryOf);
  }

  /** Repositories with tags, newest push first. */
  repositories(limit: number, offset: number): RepositoryHit[] {
    const rows = this.statements.repositories.all(clampLimit(limit), Math.max(0, Math.floor(offset) || 0)) as unknown as RepositoryRow[];
    return rows.map(repositoryHit);
  }

  /** null when the repository is unknown, or has neither tags nor a description. */
  repository(name: string): RepositoryPage | null {
    const row = this.statements.repositoryByName.get(name) as unknown as RepositoryRow | undefined;
    if (row === undefined || (row.tag_count === 0 && row.description === "")) return null;
    const tags = (this.statements.tagsOfRepository.all(row.id) as unknown as SummaryRow[]).map(summaryOf);
    return { name: row.name, description: row.description, descriptionHtml: row.description_html, tags };
  }

  tag(repository: string, tag: string): IndexedTag | null {
    const row = this.statements.tagDocument.get(repository, tag) as { document: string } | undefined;
    return row === undefined ? null : (JSON.parse(row.document) as IndexedTag);
  }

  /**
   * Repositories whose name or description holds the words (best match
   * first), and, when the query names a distribution, the tags holding a
   * version of it that meets the specifier (newest push first).
   */
  search(query: SearchQuery, limit: number): SearchResults {
    const max = clampLimit(limit);
    const match = ftsQuery(query.text);
    const rows = match === null || max === 0 ? [] : (this.statements.searchText.all(match, max) as unknown as RepositoryRow[]);
    const distribution = query.distribution;
    return {
      query: distribution ? `${distribution.name}${distribution.specifier ?? ""}` : query.text,
      repositories: rows.map(repositoryHit),
      distributions: distribution ? this.searchDistributions(distribution.name, distribution.specifier, max) : [],
    };
  }

  counts(): { repositories: number; tags: number; distributions: number } {
    const row = this.statements.counts.get() as { repositories: number; tags: number; distributions: number };
    return { repositories: row.repositories, tags: row.tags, distributions: row.distributions };
  }

  private searchDistributions(name: string, specifier: string | null, limit: number): DistributionHit[] {
    const clauses = specifier === null ? [] : specifierClauses(specifier);
    if (clauses === null || limit === 0) return [];
    const range = keyRange(clauses);
    const bounded = range.low !== null || range.high !== null;
    // Keys are digits and dots: "" sorts before every key, "~" after.
    const parameters = { name: normalizedName(name), any: bounded ? 0 : 1, low: range.low ?? "", high: range.high ?? "~" };
    // The range lets too much through (pre/post releases, != clauses): satisfies() decides, once per specifier and version.
    if (this.verdicts.size > MAX_VERDICTS) this.verdicts.clear();
    const hits: DistributionHit[] = [];
    for (const row of this.statements.distributions.iterate(parameters) as IterableIterator<DistributionRow>) {
      const key = `${specifier ?? ""}\n${row.version}`;
      let verdict = this.verdicts.get(key);
      if (verdict === undefined) {
        verdict = versionSatisfies(row.version, clauses);
        this.verdicts.set(key, verdict);
      }
      if (!verdict) continue;
      hits.push({ repository: row.repository, tag: row.tag, pushedAt: row.pushed_at, name: row.name, version: row.version });
      if (hits.length >= limit) break;
    }
    return hits;
  }

  /** The repository's row id; with `create`, a new repository when there is none. */
  private repositoryId(name: string, create: true): number;
  private repositoryId(name: string, create: false): number | null;
  private repositoryId(name: string, create: boolean): number | null {
    const row = this.statements.repositoryByName.get(name) as { id: number } | undefined;
    if (row !== undefined) return row.id;
    if (!create) return null;
    const inserted = this.statements.insertRepository.get(name) as { id: number };
    return inserted.id;
  }

  /**
   * Brings the repository's tag count, last push and search row up to date
   * after a write, and forgets a repository left with neither tags nor a
   * description (the registry keeps emptied repositories in its catalog; the
   * hub lists none). Only repositories with tags have a search row.
   */
  private refreshRepository(repositoryId: number, textChanged = false): void {
    this.statements.refreshRepository.run({ id: repositoryId });
    const row = this.statements.repositoryState.get(repositoryId) as unknown as RepositoryRow | undefined;
    const searchable = this.statements.repositoryTextExists.get(repositoryId) !== undefined;
    const visible = row !== undefined && row.tag_count > 0;
    // Rewritten only when it changes: every FTS5 write adds a segment for it to merge later.
    if (searchable && (!visible || textChanged)) this.statements.deleteRepositoryText.run(repositoryId);
    if (row !== undefined && visible && (!searchable || textChanged)) this.statements.insertRepositoryText.run(repositoryId, row.name, row.description_text);
    if (row !== undefined && !visible && row.description === "") this.statements.deleteRepository.run(repositoryId);
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE: the write lock is taken up front, so it cannot fail half-way on a busy file). */
  private inTransaction<T>(fn: () => T): T {
    if (this.transactionDepth > 0) return fn();
    this.db.exec("BEGIN IMMEDIATE");
    this.transactionDepth += 1;
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      try {
        this.db.exec("ROLLBACK");
      } catch {
        // SQLite already rolled back (a full disk, an I/O error): the error to report is the first one.
      }
      throw error;
    } finally {
      this.transactionDepth -= 1;
    }
  }
}

function schemaVersion(db: DatabaseSync): number {
  const { user_version: version } = db.prepare("PRAGMA user_version").get() as { user_version: number };
  if (version > SCHEMA_VERSION) {
    throw new PypakrError(`The hub's index was written by a newer pypakr (schema ${version}; this one knows ${SCHEMA_VERSION})`, {
      code: "hub-index-unusable",
      hint: "Run the newer pypakr, or move the file away and start the hub again: it indexes the registry anew (repository descriptions written in the hub are lost).",
    });
  }
  return version;
}

function migrate(db: DatabaseSync, version: number): void {
  for (let step = version; step < SCHEMA_VERSION; step++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[step] ?? "");
      // PRAGMA takes no bound parameter; step is a number of this file.
      db.exec(`PRAGMA user_version = ${step + 1}`);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}
