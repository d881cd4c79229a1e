/**
 * Wall-clock time in integer milliseconds since the epoch, read once per
 * operation at the edge. Tests may shift it forward (test hook
 * billing_test_advance_clock) to drive long histories in a short run.
 */
import * as clock from "clock";

const state = { offset_ms: 0 };

export function nowMs(): number {
  return math.floor(clock.time() * 1000) + state.offset_ms;
}

/** Moves this node's clock forward by `ms` (never back: time in billing only moves forward). */
export function advanceClock(ms: number): number {
  if (ms < 0 || math.floor(ms) !== ms) error("advance must be a non-negative whole number of ms");
  state.offset_ms += ms;
  return nowMs();
}
