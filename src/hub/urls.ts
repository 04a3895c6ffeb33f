/**
 * The hub's URLs, built in one place. Repository names hold "/" and are
 * encoded per segment (team/jokes stays team/jokes, never team%2Fjokes); tags
 * and actions come after a "/-/" separator, which no repository name
 * component can be (the distribution grammar's components start with a
 * letter or digit), so a path has one reading.
 */

function encodeRepository(repository: string): string {
  return repository.split("/").map(encodeURIComponent).join("/");
}

export const urls = {
  home: (offset = 0) => (offset > 0 ? `/?offset=${offset}` : "/"),
  search: (q: string) => `/search?q=${encodeURIComponent(q)}`,
  repository: (repository: string) => `/r/${encodeRepository(repository)}`,
  tag: (repository: string, tag: string) => `/r/${encodeRepository(repository)}/-/tags/${encodeURIComponent(tag)}`,
  sbom: (repository: string, tag: string) => `${urls.tag(repository, tag)}/sbom.cdx.json`,
  pylock: (repository: string, tag: string) => `${urls.tag(repository, tag)}/pylock.toml`,
  deleteTag: (repository: string, tag: string) => `${urls.tag(repository, tag)}/delete`,
  description: (repository: string) => `/r/${encodeRepository(repository)}/-/description`,
  diff: (repository: string, from?: string, to?: string) => `/r/${encodeRepository(repository)}/-/diff${from !== undefined && to !== undefined ? `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}` : ""}`,
  login: (next?: string) => (next !== undefined && next !== "/" ? `/-/login?next=${encodeURIComponent(next)}` : "/-/login"),
  logout: () => "/-/logout",
  api: {
    recent: () => "/api/recent",
    search: (q: string) => `/api/search?q=${encodeURIComponent(q)}`,
    repositories: (offset = 0) => `/api/repositories${offset > 0 ? `?offset=${offset}` : ""}`,
    repository: (repository: string) => `/api/repositories/${encodeRepository(repository)}`,
    tag: (repository: string, tag: string) => `/api/repositories/${encodeRepository(repository)}/tags/${encodeURIComponent(tag)}`,
    diff: (repository: string, from: string, to: string) => `/api/repositories/${encodeRepository(repository)}/diff?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
  },
} as const;
