/**
 * Node.js's zstd decompressor stops at the end of the first frame and
 * silently drops whatever follows. gzip's reads every member, so a layer
 * holding more than one frame would unpack to less than its bytes say,
 * unnoticed. This pass-through walks the frames' structure (RFC 8878: each
 * block states its size, so no decompression is needed) and fails on bytes
 * after the first frame. pypakr, like `zstd` itself, writes one frame per
 * layer; multi-frame layers (such as containers' zstd:chunked) are refused
 * with that reason rather than read in part.
 */
import { Transform, type TransformCallback } from "node:stream";

const FRAME_MAGIC = 0xfd2fb528;

type Need = { what: "magic" } | { what: "frame-header" } | { what: "block-header" } | { what: "skip"; bytes: number; then: "block-header" | "checksum" | "end" } | { what: "checksum" } | { what: "end" };

export class SingleZstdFrame extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  private need: Need = { what: "magic" };
  private offset = 0;
  private checksum = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
      this.walk();
      callback(null, chunk);
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    callback(this.need.what === "end" ? null : new Error("zstd data ends in the middle of its frame"));
  }

  /** Consumes `bytes` of pending input, or returns null while fewer have arrived. */
  private consume(bytes: number): Buffer | null {
    if (this.pending.length < bytes) return null;
    const taken = this.pending.subarray(0, bytes);
    this.pending = this.pending.subarray(bytes);
    this.offset += bytes;
    return taken;
  }

  private walk(): void {
    for (;;) {
      const need = this.need;
      switch (need.what) {
        case "magic": {
          const magic = this.consume(4);
          if (!magic) return;
          if (magic.readUInt32LE(0) !== FRAME_MAGIC) throw new Error("is not zstd data (no frame magic number)");
          this.need = { what: "frame-header" };
          break;
        }
        case "frame-header": {
          if (this.pending.length < 1) return;
          const descriptor = this.pending[0] ?? 0;
          const singleSegment = (descriptor >> 5) & 1;
          if ((descriptor >> 3) & 1) throw new Error("has a zstd frame header with its reserved bit set");
          const contentSizeFlag = descriptor >> 6;
          const contentSizeBytes = [singleSegment, 2, 4, 8][contentSizeFlag] ?? 0;
          const dictionaryBytes = [0, 1, 2, 4][descriptor & 3] ?? 0;
          if (!this.consume(1 + (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes)) return;
          this.checksum = ((descriptor >> 2) & 1) === 1;
          this.need = { what: "block-header" };
          break;
        }
        case "block-header": {
          const header = this.consume(3);
          if (!header) return;
          const value = header.readUIntLE(0, 3);
          const last = (value & 1) === 1;
          const type = (value >> 1) & 3;
          if (type === 3) throw new Error("has a zstd block of the reserved type");
          // An RLE block holds one byte, repeated block-size times when decoded.
          const bytes = type === 1 ? 1 : value >> 3;
          this.need = { what: "skip", bytes, then: last ? (this.checksum ? "checksum" : "end") : "block-header" };
          break;
        }
        case "skip": {
          const skipped = Math.min(need.bytes, this.pending.length);
          this.consume(skipped);
          if (skipped < need.bytes) {
            this.need = { ...need, bytes: need.bytes - skipped };
            return;
          }
          this.need = { what: need.then };
          break;
        }
        case "checksum":
          if (!this.consume(4)) return;
          this.need = { what: "end" };
          break;
        case "end":
          if (this.pending.length > 0) {
            throw new Error(`holds more data after its zstd frame (at byte ${this.offset}); pypakr reads layers of one frame, as it and zstd write them (multi-frame layers such as zstd:chunked are not supported)`);
          }
          return;
      }
    }
  }
}
