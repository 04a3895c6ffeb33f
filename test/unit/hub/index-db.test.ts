/**
 * The hub's index (src/hub/index-db.ts): what goes in comes out verbatim,
 * however hostile; re-pushes, digest deletes and emptied repositories leave
 * the lists right; every list is in its documented order; free text never
 * reaches SQL or FTS5 as syntax; the file is WAL, versioned and refused
 * with a hint when it is not one the index can use.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import { HubIndex } from "../../../src/hub/index-db.js";
import { parseSearchQuery } from "../../../src/hub/search-query.js";
import { PypakrError } from "../../../src/util/errors.js";
import { fakeDigest, minutesAfterStart, ordinaryTag, pypakrTag } from "../../support/hub-tags.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

let root = "";
before(async () => {
  root = await makeTempDir();
});
after(() => removeDir(root));

function withIndex(fn: (index: HubIndex) => void): void {
  const index = HubIndex.open(":memory:");
  try {
    fn(index);
  } finally {
    index.close();
  }
}

const HOSTILE = [
  `<script>alert("x")</script>`,
  `'; DROP TABLE tags; --`,
  `" OR 1=1 --`,
  `NEAR(a b) AND OR NOT * ^ : ( ) { } - + "`,
  `line\nbreak\ttab\r and a NUL \u0000 inside`,
  `emoji 😀 and RTL \u202e override`,
  `%s %d %% \\ \\\\ $1 $& ${"${x}"}`,
  `x`.repeat(10_000),
];

describe("HubIndex: what is stored comes back verbatim", () => {
  test("a tag's every field, with hostile repository names, tags and descriptions", () => {
    withIndex((index) => {
      HOSTILE.forEach((text, i) => {
        const repository = `r${i}/${text}`;
        const tag = pypakrTag(repository, text, ["flask==3.1.0"], { pushedAt: minutesAfterStart(i), pushedBy: text, environment: { [text]: text }, entrypoint: [text] });
        index.putTag(tag);
        index.setDescription(repository, text, `<p>${text}</p>`);
        assert.deepEqual(index.tag(repository, text), tag);
        const page = index.repository(repository);
        assert.ok(page);
        assert.equal(page.name, repository);
        assert.equal(page.description, text);
        assert.equal(page.descriptionHtml, `<p>${text}</p>`);
        assert.equal(page.tags[0]?.tag, text);
        assert.equal(page.tags[0]?.pushedBy, text);
      });
      assert.deepEqual(
        index.repositoryNames(),
        HOSTILE.map((text, i) => `r${i}/${text}`).sort(),
      );
      assert.equal(index.counts().tags, HOSTILE.length);
    });
  });

  test("a description's search text and excerpt are the words of its HTML, entities decoded, never markup", () => {
    withIndex((index) => {
      index.putTag(pypakrTag("team/jokes", "1", []));
      index.setDescription("team/jokes", "**Jokes** & <b>", "<h3>Jokes</h3><p><strong>Tom &amp; Jerry</strong> &lt;b&gt; &#x41;&#66;</p>");
      assert.equal(index.repositories(10, 0)[0]?.excerpt, "Jokes Tom & Jerry <b> AB");
      const hit = index.search(parseSearchQuery("jerry"), 10).repositories[0];
      assert.equal(hit?.name, "team/jokes");
      assert.ok(hit?.excerpt.includes("Tom & Jerry <b>"), hit?.excerpt);
      assert.ok(!hit?.excerpt.includes("<strong>"));
      // A new description replaces the old one's words; a new tag keeps them.
      index.setDescription("team/jokes", "Puns", "<p>Puns</p>");
      index.putTag(pypakrTag("team/jokes", "2", []));
      assert.deepEqual(index.search(parseSearchQuery("jerry"), 10).repositories, []);
      assert.deepEqual(index.search(parseSearchQuery("puns"), 10).repositories.map((found) => found.name), ["team/jokes"]);
    });
  });

  test("the push time is kept as UTC ISO with milliseconds, so string order is time order", () => {
    withIndex((index) => {
      index.putTag(pypakrTag("a/b", "whole", [], { pushedAt: "2026-11-30T10:00:00Z" }));
      index.putTag(pypakrTag("a/b", "later", [], { pushedAt: "2026-11-30T11:00:00.5+01:00" }));
      index.putTag(pypakrTag("a/b", "fraction", [], { pushedAt: "2026-11-30T10:00:00.500Z" }));
      // Same instant for the two later ones (the later write first); unnormalized, "…00Z" would sort after "…00.500Z".
      assert.deepEqual(
        index.recent(10).map((row) => [row.tag, row.pushedAt]),
        [
          ["fraction", "2026-11-30T10:00:00.500Z"],
          ["later", "2026-11-30T10:00:00.500Z"],
          ["whole", "2026-11-30T10:00:00.000Z"],
        ],
      );
      assert.equal(index.tag("a/b", "whole")?.pushedAt, "2026-11-30T10:00:00.000Z");
      assert.throws(() => index.putTag(pypakrTag("a/b", "bad", [], { pushedAt: "yesterday" })), (error: unknown) => error instanceof PypakrError && error.code === "registry-misbehaved");
      assert.equal(index.tag("a/b", "bad"), null);
    });
  });
});

describe("HubIndex: writes keep the lists right", () => {
  test("a re-pushed tag moves to its new digest, and its old distributions are gone", () => {
    withIndex((index) => {
      index.putTag(pypakrTag("team/app", "latest", ["flask==3.0.0"], { pushedAt: minutesAfterStart(1) }));
      index.putTag(pypakrTag("team/app", "latest", ["flask==3.1.0"], { pushedAt: minutesAfterStart(2) }));
      const moved = index.tag("team/app", "latest");
      assert.equal(moved?.digest, fakeDigest("manifest:team/app:latest:flask==3.1.0"));
      assert.deepEqual(index.tagDigests("team/app"), new Map([["latest", moved?.digest]]));
      assert.deepEqual(index.search(parseSearchQuery("flask 3.0"), 10).distributions, []);
      assert.deepEqual(
        index.search(parseSearchQuery("flask"), 10).distributions.map((hit) => hit.version),
        ["3.1.0"],
      );
      assert.deepEqual(index.counts(), { repositories: 1, tags: 1, distributions: 1 });
      assert.equal(index.repository("team/app")?.tags[0]?.pushedAt, minutesAfterStart(2));
    });
  });

  test("removeDigest removes every tag of the repository on that digest, and only those", () => {
    withIndex((index) => {
      const shared = fakeDigest("one image");
      index.putTag(pypakrTag("team/app", "1.0", ["flask==3.1.0"], { digest: shared }));
      index.putTag(pypakrTag("team/app", "latest", ["flask==3.1.0"], { digest: shared }));
      index.putTag(pypakrTag("team/app", "0.9", ["flask==3.0.0"]));
      index.putTag(pypakrTag("other/app", "1.0", ["flask==3.1.0"], { digest: shared }));
      assert.deepEqual(index.removeDigest("team/app", shared), ["1.0", "latest"]);
      assert.deepEqual([...index.tagDigests("team/app").keys()], ["0.9"]);
      assert.deepEqual([...index.tagDigests("other/app").keys()], ["1.0"]);
      assert.deepEqual(index.removeDigest("team/app", shared), []);
      assert.deepEqual(index.removeDigest("no/such", shared), []);
      assert.deepEqual(index.counts(), { repositories: 2, tags: 2, distributions: 2 });
    });
  });

  test("a repository without tags is hidden everywhere; with a description its own page stays", () => {
    withIndex((index) => {
      index.putTag(pypakrTag("team/flask-app", "1", ["flask==3.1.0"]));
      index.putTag(pypakrTag("team/described", "1", ["flask==3.1.0"]));
      index.setDescription("team/described", "A flask app", "<p>A flask app</p>");
      index.removeTag("team/flask-app", "1");
      index.removeTag("team/described", "1");
      index.removeTag("team/described", "no-such-tag");
      index.removeTag("no/such", "1");
      assert.equal(index.repository("team/flask-app"), null);
      assert.deepEqual(index.repository("team/described"), { name: "team/described", description: "A flask app", descriptionHtml: "<p>A flask app</p>", tags: [] });
      assert.deepEqual(index.repositories(10, 0), []);
      assert.deepEqual(index.recent(10), []);
      assert.deepEqual(index.search(parseSearchQuery("flask"), 10), { query: "flask", repositories: [], distributions: [] });
      assert.deepEqual(index.counts(), { repositories: 0, tags: 0, distributions: 0 });
      // Known to a reconcile only while it has something of its own.
      assert.deepEqual(index.repositoryNames(), ["team/described"]);
      index.setDescription("team/described", "", "");
      assert.deepEqual(index.repositoryNames(), []);
      assert.equal(index.repository("team/described"), null);
    });
  });

  test("removeRepository forgets tags, distributions, description and search text", () => {
    withIndex((index) => {
      index.putTag(pypakrTag("team/gone", "1", ["flask==3.1.0"]));
      index.setDescription("team/gone", "unique-word", "<p>unique-word</p>");
      index.removeRepository("team/gone");
      index.removeRepository("team/gone");
      assert.equal(index.repository("team/gone"), null);
      assert.deepEqual(index.counts(), { repositories: 0, tags: 0, distributions: 0 });
      index.putTag(pypakrTag("team/gone", "2", []));
      assert.deepEqual(index.search(parseSearchQuery("unique-word"), 10).repositories, []);
      assert.equal(index.repository("team/gone")?.description, "");
    });
  });

  test("a failed write changes nothing", () => {
    withIndex((index) => {
      index.putTag(pypakrTag("team/app", "1", ["flask==3.0.0"]));
      const broken = pypakrTag("team/app", "1", ["flask==3.1.0"]);
      // A BigInt cannot be written as JSON: the write fails after the old tag was deleted in the transaction.
      (broken.environment as Record<string, unknown>).x = 1n;
      assert.throws(() => index.putTag(broken));
      assert.equal(index.tag("team/app", "1")?.layers[0]?.distribution?.version, "3.0.0");
      assert.deepEqual(index.counts(), { repositories: 1, tags: 1, distributions: 1 });
    });
  });

  test("layer metadata: undefined until cached, then what was cached, null included", () => {
    withIndex((index) => {
      const metadata = { licenseExpression: "MIT OR <script>", license: null, licenseClassifiers: ["OSI Approved :: MIT License"], requiresPython: ">=3.9", summary: "s", homepage: null };
      assert.equal(index.layerMetadata("sha256:a"), undefined);
      index.putLayerMetadata("sha256:a", metadata);
      index.putLayerMetadata("sha256:b", null);
      assert.deepEqual(index.layerMetadata("sha256:a"), metadata);
      assert.equal(index.layerMetadata("sha256:b"), null);
    });
  });
});

describe("HubIndex: orders", () => {
  test("recent: newest push first across repositories, ties by the later write", () => {
    withIndex((index) => {
      index.putTag(pypakrTag("a/one", "old", [], { pushedAt: minutesAfterStart(1) }));
      index.putTag(pypakrTag("b/two", "new", [], { pushedAt: minutesAfterStart(3) }));
      index.putTag(ordinaryTag("c/three", "mid", { pushedAt: minutesAfterStart(2) }));
      index.putTag(pypakrTag("a/one", "tie", [], { pushedAt: minutesAfterStart(3) }));
      assert.deepEqual(
        index.recent(10).map((row) => `${row.repository}:${row.tag}`),
        ["a/one:tie", "b/two:new", "c/three:mid", "a/one:old"],
      );
      assert.deepEqual(index.recent(2).length, 2);
      const ordinary = index.recent(10)[2];
      assert.equal(ordinary?.kind, "ordinary");
      assert.equal(ordinary?.python, null);
      assert.equal(index.recent(10)[0]?.python, "cpython 3.11.7");
    });
  });

  test("repositories: newest push first, then by name; paged by offset", () => {
    withIndex((index) => {
      index.putTag(pypakrTag("b/app", "1", [], { pushedAt: minutesAfterStart(5) }));
      index.putTag(pypakrTag("a/app", "1", [], { pushedAt: minutesAfterStart(5) }));
      index.putTag(pypakrTag("c/app", "1", [], { pushedAt: minutesAfterStart(9) }));
      index.putTag(pypakrTag("d/app", "1", [], { pushedAt: minutesAfterStart(1) }));
      index.putTag(pypakrTag("d/app", "2", [], { pushedAt: minutesAfterStart(2) }));
      assert.deepEqual(
        index.repositories(10, 0).map((hit) => [hit.name, hit.tagCount, hit.lastPushedAt]),
        [
          ["c/app", 1, minutesAfterStart(9)],
          ["a/app", 1, minutesAfterStart(5)],
          ["b/app", 1, minutesAfterStart(5)],
          ["d/app", 2, minutesAfterStart(2)],
        ],
      );
      assert.deepEqual(index.repositories(2, 2).map((hit) => hit.name), ["b/app", "d/app"]);
      assert.deepEqual(index.repositories(-1, 0), []);
      assert.deepEqual(index.repositories(Number.NaN, Number.NaN), []);
    });
  });

  test("a repository's tags: newest push first, then by name", () => {
    withIndex((index) => {
      index.putTag(pypakrTag("a/app", "b", ["flask==3.1.0", "click==8.1.7"], { pushedAt: minutesAfterStart(2) }));
      index.putTag(pypakrTag("a/app", "a", [], { pushedAt: minutesAfterStart(2) }));
      index.putTag(pypakrTag("a/app", "c", [], { pushedAt: minutesAfterStart(1) }));
      const tags = index.repository("a/app")?.tags ?? [];
      assert.deepEqual(tags.map((row) => row.tag), ["a", "b", "c"]);
      assert.equal(tags[1]?.distributionCount, 2);
    });
  });
});

describe("HubIndex: search", () => {
  function fill(index: HubIndex): void {
    index.putTag(pypakrTag("team/flask-app", "1", ["Flask==3.0.3", "urllib3==1.26.20"], { pushedAt: minutesAfterStart(1) }));
    index.putTag(pypakrTag("team/flask-app", "2", ["Flask==3.1.0", "urllib3==2.0.0rc1"], { pushedAt: minutesAfterStart(2) }));
    index.putTag(pypakrTag("team/flask-app", "3", ["flask==3.10.0", "urllib3==2.2.3"], { pushedAt: minutesAfterStart(3) }));
    index.putTag(pypakrTag("other/web", "1", ["flask==3.1.1", "urllib3==1.27rc1", "Flask_Login==0.6.3"], { pushedAt: minutesAfterStart(4) }));
    index.putTag(pypakrTag("other/odd", "1", ["flask==not-pep-440", "urllib3==1!0.5"], { pushedAt: minutesAfterStart(5) }));
    index.setDescription("other/web", "A web *service*", "<p>A web <em>service</em></p>");
  }
  const found = (index: HubIndex, q: string): string[] =>
    index.search(parseSearchQuery(q), 50).distributions.map((hit) => `${hit.repository}:${hit.tag}:${hit.name}==${hit.version}`);

  test("by distribution and version, newest push first; PEP 503 names, PEP 440 order", () => {
    withIndex((index) => {
      fill(index);
      assert.deepEqual(found(index, "flask 3.1"), ["other/web:1:flask==3.1.1", "team/flask-app:2:Flask==3.1.0"]);
      assert.deepEqual(found(index, "FLASK==3.1.0"), ["team/flask-app:2:Flask==3.1.0"]);
      assert.deepEqual(found(index, "flask>=3.1"), ["other/web:1:flask==3.1.1", "team/flask-app:3:flask==3.10.0", "team/flask-app:2:Flask==3.1.0"]);
      assert.deepEqual(found(index, "flask ~=3.0.1"), ["team/flask-app:1:Flask==3.0.3"]);
      assert.deepEqual(found(index, "flask!=3.1.1,<4"), ["team/flask-app:3:flask==3.10.0", "team/flask-app:2:Flask==3.1.0", "team/flask-app:1:Flask==3.0.3"]);
      // 2.0.0rc1 is not <2 (PEP 440); 1.27rc1 is (it is what the image holds); 1!0.5 is later than every 0! version.
      assert.deepEqual(found(index, "urllib3<2"), ["other/web:1:urllib3==1.27rc1", "team/flask-app:1:urllib3==1.26.20"]);
      assert.deepEqual(found(index, "urllib3 <2,>=1.26.20"), ["other/web:1:urllib3==1.27rc1", "team/flask-app:1:urllib3==1.26.20"]);
      assert.deepEqual(found(index, "urllib3>=2"), ["other/odd:1:urllib3==1!0.5", "team/flask-app:3:urllib3==2.2.3"]);
      assert.deepEqual(found(index, "flask===not-pep-440"), ["other/odd:1:flask==not-pep-440"]);
      assert.deepEqual(found(index, "flask_login"), ["other/web:1:Flask_Login==0.6.3"]);
      assert.deepEqual(found(index, "flask-login 0.6"), ["other/web:1:Flask_Login==0.6.3"]);
      assert.deepEqual(found(index, "flask 9"), []);
      assert.equal(found(index, "flask").length, 5);
      assert.equal(index.search(parseSearchQuery("flask"), 2).distributions.length, 2);
      assert.equal(index.search(parseSearchQuery("flask 3.1"), 10).query, "flask==3.1.*");
    });
  });

  test("by words: the whole repository name, its parts, prefixes and the description", () => {
    withIndex((index) => {
      fill(index);
      const names = (q: string): string[] => index.search(parseSearchQuery(q), 50).repositories.map((hit) => hit.name);
      assert.deepEqual(names("team/flask-app"), ["team/flask-app"]);
      assert.deepEqual(names("flask-app"), ["team/flask-app"]);
      assert.deepEqual(names("app"), ["team/flask-app"]);
      assert.deepEqual(names("team/fl"), ["team/flask-app"]);
      assert.deepEqual(names("SERV"), ["other/web"]);
      assert.deepEqual(names("web service"), ["other/web"]);
      assert.deepEqual(names("service web"), ["other/web"]);
      // Equal matches: the newer push first.
      assert.deepEqual(names("other"), ["other/odd", "other/web"]);
      assert.deepEqual(names("nothing-like-it"), []);
    });
  });

  test("FTS5 and SQL syntax in a query are words, never syntax: no error, no surprise match", () => {
    withIndex((index) => {
      fill(index);
      index.putTag(pypakrTag(`quote"d/and`, "1", []));
      for (const q of [
        `"`, `""`, `"unbalanced`, `*`, `app*`, `^app`, `-app`, `NOT app`, `app OR web`, `app AND`, `NEAR(app web)`, `name:app`, `{name}: app`,
        `(app`, `app)`, `'`, `';--`, `%`, `_`, `\\`, `\u0000`, `!!! ??? ...`, `😀`, `'; DROP TABLE tags; --`, `a`.repeat(500), `app `.repeat(100),
      ]) {
        const results = index.search(parseSearchQuery(q), 10);
        assert.ok(Array.isArray(results.repositories), q);
      }
      const names = (q: string): string[] => index.search(parseSearchQuery(q), 50).repositories.map((hit) => hit.name);
      assert.deepEqual(names("!!! ??? ..."), []);
      assert.deepEqual(names(`app OR web`), [], "OR is a word that no repository holds");
      assert.deepEqual(names(`quote"d`), [`quote"d/and`]);
      assert.deepEqual(names(`and`), [`quote"d/and`]);
      assert.equal(index.counts().tags, 6);
    });
  });
});

describe("HubIndex: the file", () => {
  test("on disk: WAL, schema version 1, and what was written is there after reopening", async () => {
    const file = path.join(root, "wal", "index.sqlite");
    await fs.mkdir(path.dirname(file), { recursive: true });
    const index = HubIndex.open(file);
    index.putTag(pypakrTag("team/app", "1", ["flask==3.1.0"]));
    index.close();
    const raw = new DatabaseSync(file);
    try {
      assert.deepEqual({ ...raw.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
      assert.deepEqual({ ...raw.prepare("PRAGMA user_version").get() }, { user_version: 1 });
    } finally {
      raw.close();
    }
    const reopened = HubIndex.open(file);
    try {
      assert.equal(reopened.tag("team/app", "1")?.tag, "1");
      assert.equal(reopened.search(parseSearchQuery("flask==3.1.0"), 10).distributions.length, 1);
    } finally {
      reopened.close();
    }
  });

  test("a file of a newer schema, or not a database at all, is refused with a hint and left as it was", async () => {
    const newer = path.join(root, "newer.sqlite");
    const raw = new DatabaseSync(newer);
    raw.exec("PRAGMA user_version = 99");
    raw.close();
    const garbage = path.join(root, "garbage.sqlite");
    await fs.writeFile(garbage, "this is not an SQLite database, not even close".repeat(100));
    for (const file of [newer, garbage]) {
      const before = await fs.readFile(file);
      assert.throws(
        () => HubIndex.open(file),
        (error: unknown) => error instanceof PypakrError && error.code === "hub-index-unusable" && /move the file away/i.test(error.hint ?? ""),
      );
      assert.deepEqual(await fs.readFile(file), before);
    }
  });
});
