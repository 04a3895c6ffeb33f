/**
 * Shared by the property-based tests: every property runs a bounded number
 * of cases within a time limit, so CI time stays fixed. FUZZ_SEED replays a
 * failure fast-check reported; FUZZ_SCALE=k runs k times longer.
 */
import fc from "fast-check";

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const SCALE = Number(process.env.FUZZ_SCALE ?? "1") || 1;

export function bounded<T>(numRuns: number, timeMs: number, examples: T[] = []): fc.Parameters<T> {
  return {
    numRuns: Math.round(numRuns * SCALE),
    plugins: [fc.interruptAfterTimeLimit(timeMs * SCALE) as fc.Plugin<T>],
    examples,
    ...(SEED !== undefined ? { seed: SEED } : {}),
  };
}
