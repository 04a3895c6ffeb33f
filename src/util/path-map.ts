/**
 * A map keyed by relative paths ("a/b/c") that can drop a path and
 * everything below it in time proportional to what it drops, not to the
 * map's size. Extraction and assembly replace a directory by a file (or hide
 * it behind a whiteout) once per entry in the worst case; scanning every key
 * for each of those made a small crafted layer of 20,000 directories and
 * then 20,000 files of the same names cost minutes (quadratic work).
 */
/** Each proper parent of a relative path ("a/b/c": "a", "a/b"), outermost first. */
export function ancestors(path: string): string[] {
  const parts = path.split("/");
  return parts.slice(1).map((_, index) => parts.slice(0, index + 1).join("/"));
}

interface Node<V> {
  value: V | undefined;
  has: boolean;
  children: Map<string, Node<V>> | undefined;
}

function newNode<V>(): Node<V> {
  return { value: undefined, has: false, children: undefined };
}

export class PathMap<V> {
  private readonly root: Node<V> = newNode();
  private count = 0;

  get size(): number {
    return this.count;
  }

  private find(path: string): Node<V> | undefined {
    let node: Node<V> | undefined = this.root;
    for (const part of path.split("/")) {
      node = node.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  get(path: string): V | undefined {
    return this.find(path)?.value;
  }

  has(path: string): boolean {
    return this.find(path)?.has ?? false;
  }

  set(path: string, value: V): void {
    let node = this.root;
    for (const part of path.split("/")) node = childMade(node, part);
    this.fill(node, value);
  }

  private fill(node: Node<V>, value: V): void {
    if (!node.has) this.count += 1;
    node.has = true;
    node.value = value;
  }

  private dropChildren(node: Node<V>): void {
    for (const child of node.children?.values() ?? []) this.count -= countPresent(child);
    node.children = undefined;
  }

  /**
   * Each proper parent of `path`, outermost first, found in one descent (so
   * walking a deep path costs its depth, not its depth squared).
   */
  *parents(path: string): Generator<{ path: string; present: boolean; value: V | undefined }> {
    const parts = path.split("/");
    parts.pop();
    let node: Node<V> | undefined = this.root;
    let prefix = "";
    for (const part of parts) {
      prefix = prefix ? `${prefix}/${part}` : part;
      node = node?.children?.get(part);
      yield { path: prefix, present: node?.has ?? false, value: node?.value };
    }
  }

  /**
   * Sets `path` to `value` in one descent (planning a venv calls this once
   * per entry, so it allocates little): each missing parent gets
   * `parents.missing`; a present parent whose value `parents.accept` refuses
   * stops it, and that parent is returned, with nothing below it changed.
   * When `dropBelow(old)` says so, what was below `path` goes first (a file
   * replacing a directory).
   */
  setUnder(path: string, value: V, parents: { missing: V; accept: (value: V | undefined) => boolean }, dropBelow: (old: V | undefined) => boolean): { path: string; value: V | undefined } | null {
    const parts = path.split("/");
    let node = this.root;
    for (let index = 0; index < parts.length; index++) {
      node = childMade(node, parts[index] as string);
      if (index === parts.length - 1) break;
      if (!node.has) this.fill(node, parents.missing);
      else if (!parents.accept(node.value)) return { path: parts.slice(0, index + 1).join("/"), value: node.value };
    }
    if (node.has && node.children && dropBelow(node.value)) this.dropChildren(node);
    this.fill(node, value);
    return null;
  }

  /** Drops `path` and everything below it. */
  deleteTree(path: string): void {
    const parts = path.split("/");
    const name = parts.pop() as string;
    const parent = parts.length === 0 ? this.root : this.find(parts.join("/"));
    const node = parent?.children?.get(name);
    if (!parent || !node) return;
    this.count -= countPresent(node);
    parent.children?.delete(name);
  }

  /** The names directly below `path` that hold a value or have one below them. */
  childNames(path: string): string[] {
    return [...(this.find(path)?.children?.keys() ?? [])];
  }

  /** Drops everything strictly below `path`, keeping `path` itself. */
  deleteBelow(path: string): void {
    const node = this.find(path);
    if (node) this.dropChildren(node);
  }

  /** Every path and value, parents before their children, siblings in code-unit order. */
  *entries(): Generator<[string, V]> {
    const stack: [string, Node<V>][] = [];
    const pushChildren = (prefix: string, node: Node<V>) => {
      if (!node.children) return;
      const names = [...node.children.keys()].sort().reverse();
      for (const name of names) stack.push([prefix ? `${prefix}/${name}` : name, node.children.get(name) as Node<V>]);
    };
    pushChildren("", this.root);
    for (let next = stack.pop(); next; next = stack.pop()) {
      const [path, node] = next;
      if (node.has) yield [path, node.value as V];
      pushChildren(path, node);
    }
  }
}

/** The child of `node` named `part`, made (empty) if it is not there. */
function childMade<V>(node: Node<V>, part: string): Node<V> {
  node.children ??= new Map();
  let child = node.children.get(part);
  if (!child) {
    child = newNode();
    node.children.set(part, child);
  }
  return child;
}

function countPresent<V>(node: Node<V>): number {
  let total = 0;
  const stack = [node];
  for (let next = stack.pop(); next; next = stack.pop()) {
    if (next.has) total += 1;
    if (next.children) for (const child of next.children.values()) stack.push(child);
  }
  return total;
}
