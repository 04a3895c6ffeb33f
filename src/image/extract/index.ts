/** Extracting untrusted tars (image layers, source archives), and the rules their entries and links must keep. */
export { DEFAULT_MAX_ENTRIES, entryPathProblem } from "./entry-rules.js";
export { checkLayerArchive, checkSymlinks, extractTar, type ExtractOptions, type ListedEntry, type ListedFile } from "./extract.js";
export { linkDestination, symlinkProblem } from "./symlinks.js";
