/**
 * The line of each key of a TOML document, for errors about values that
 * smol-toml parsed (it keeps no positions). Not a parser: it runs only on text
 * smol-toml has accepted, and it follows just enough of TOML's grammar to
 * know where keys are — table headers ([a.b], [[a]]), dotted, quoted and bare
 * keys, inline tables — and to step over values that may hide a "key = " or
 * span lines (strings of every kind, arrays). Each key path is recorded at the
 * line it first appears on, and so is every table a header or dotted key
 * opens; a path with no line of its own gets its closest parent's line.
 */

type KeyPath = string[];

export function tomlLineFinder(text: string): (path: PropertyKey[]) => number {
  const lines = new TomlKeyScanner(text).scan();
  return (path) => {
    for (let length = path.length; length > 0; length--) {
      const line = lines.get(JSON.stringify(path.slice(0, length).map(String)));
      if (line !== undefined) return line;
    }
    return 1;
  };
}

class TomlKeyScanner {
  private at = 0;
  private line = 1;
  private readonly lines = new Map<string, number>();

  constructor(private readonly text: string) {}

  scan(): Map<string, number> {
    let table: KeyPath = [];
    const arrayIndex = new Map<string, number>();
    while (this.skipBlank(true)) {
      if (this.peek() === "[") {
        const array = this.text.startsWith("[[", this.at);
        this.at += array ? 2 : 1;
        const headerLine = this.line;
        table = this.readDottedKey();
        this.at += array ? 2 : 1;
        if (array) {
          // Each [[a]] adds an element: its keys are a.N.key, as the parsed value has them.
          const key = JSON.stringify(table);
          const index = (arrayIndex.get(key) ?? -1) + 1;
          arrayIndex.set(key, index);
          this.record(table, headerLine);
          table = [...table, String(index)];
        }
        this.record(table, headerLine);
      } else {
        const before = this.at;
        this.keyValue(table);
        this.moveOnFrom(before);
      }
    }
    return this.lines;
  }

  private keyValue(table: KeyPath): void {
    const keyLine = this.line;
    const key = [...table, ...this.readDottedKey()];
    for (let length = table.length + 1; length <= key.length; length++) this.record(key.slice(0, length), keyLine);
    this.skipBlank(false);
    if (this.peek() === "=") this.at++;
    this.skipValue(key);
  }

  private skipValue(path: KeyPath): void {
    this.skipBlank(false);
    const start = this.peek();
    if (start === '"' || start === "'") return this.skipString();
    if (start === "[") {
      this.at++;
      for (let index = 0; this.skipBlank(true) && this.peek() !== "]"; index++) {
        const before = this.at;
        this.record([...path, String(index)], this.line);
        this.skipValue([...path, String(index)]);
        this.skipBlank(true);
        if (this.peek() === ",") this.at++;
        this.moveOnFrom(before);
      }
      this.at++;
      return;
    }
    if (start === "{") {
      this.at++;
      while (this.skipBlank(true) && this.peek() !== "}") {
        const before = this.at;
        this.keyValue(path);
        this.skipBlank(true);
        if (this.peek() === ",") this.at++;
        this.moveOnFrom(before);
      }
      this.at++;
      return;
    }
    // A number, boolean or date: up to what ends a value.
    while (this.at < this.text.length && !/[,\]}\n#]/.test(this.text.charAt(this.at))) this.at++;
  }

  private readDottedKey(): KeyPath {
    const parts: KeyPath = [];
    for (;;) {
      this.skipBlank(false);
      parts.push(this.readSimpleKey());
      this.skipBlank(false);
      if (this.peek() !== ".") return parts;
      this.at++;
    }
  }

  private readSimpleKey(): string {
    const quote = this.peek();
    if (quote === '"' || quote === "'") {
      const start = this.at;
      this.skipString();
      const raw = this.text.slice(start, this.at);
      if (quote === "'") return raw.slice(1, -1);
      try {
        return JSON.parse(raw) as string;
      } catch {
        // TOML escapes JSON lacks (\e, \UXXXXXXXX): the key is only looked up, so its raw text will do.
        return raw.slice(1, -1);
      }
    }
    const bare = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.at, this.at + 1024))?.[0] ?? "";
    this.at += bare.length;
    return bare;
  }

  /** A basic, literal or multi-line string; the cursor is on its opening quote. */
  private skipString(): void {
    const quote = this.peek();
    const triple = quote.repeat(3);
    if (this.text.startsWith(triple, this.at)) {
      const end = this.findUnescaped(triple, this.at + 3, quote === '"');
      // Up to two quotes right before the closing three belong to the string ("""a""""" is a"").
      let after = end + 3;
      while (after < this.text.length && this.text.charAt(after) === quote && after < end + 5) after++;
      this.advanceTo(after);
      return;
    }
    this.advanceTo(this.findUnescaped(quote, this.at + 1, quote === '"') + 1);
  }

  private findUnescaped(delimiter: string, from: number, escapes: boolean): number {
    for (let index = from; index < this.text.length; index++) {
      if (escapes && this.text.charAt(index) === "\\") index++;
      else if (this.text.startsWith(delimiter, index)) return index;
    }
    return this.text.length;
  }

  /** Skips spaces and comments, and line breaks too when asked; false at the end of the text. */
  private skipBlank(newlines: boolean): boolean {
    while (this.at < this.text.length) {
      const character = this.text.charAt(this.at);
      if (character === " " || character === "\t" || character === "\r") this.at++;
      else if (character === "\n" && newlines) this.advanceTo(this.at + 1);
      else if (character === "#") {
        const end = this.text.indexOf("\n", this.at);
        this.at = end === -1 ? this.text.length : end;
      } else return true;
    }
    return false;
  }

  /** Text this scanner does not follow (it never sees any smol-toml refused) must not hold it in place. */
  private moveOnFrom(before: number): void {
    if (this.at === before) this.advanceTo(this.at + 1);
  }

  private advanceTo(offset: number): void {
    for (let index = this.at; index < offset && index < this.text.length; index++) if (this.text.charAt(index) === "\n") this.line++;
    this.at = Math.min(offset, this.text.length);
  }

  private peek(): string {
    return this.text.charAt(this.at);
  }

  private record(path: KeyPath, line: number): void {
    const key = JSON.stringify(path);
    if (!this.lines.has(key)) this.lines.set(key, line);
  }
}
