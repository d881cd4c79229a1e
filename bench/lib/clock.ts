/**
 * A wall clock with sub-millisecond resolution that agrees with Tarantool's
 * clock.time() (both are CLOCK_REALTIME): performance.now() anchored at the
 * instant Date.now() ticks to a new millisecond. Date.now() alone would round
 * every latency down to whole milliseconds.
 */
import { performance } from "node:perf_hooks";

let offset_ms = 0;

function edgeOffset(): number {
  const start = Date.now();
  for (;;) {
    const wall = Date.now();
    const mono = performance.now();
    if (wall !== start) return wall - mono;
  }
}

/** Median of a few tick edges: one edge can be late by a preemption. */
export function calibrate(): number {
  const samples = Array.from({ length: 7 }, () => edgeOffset()).sort((a, b) => a - b);
  offset_ms = samples[3]!;
  return offset_ms;
}

calibrate();

/** Milliseconds since the epoch, fractional. */
export function wallMs(): number {
  return performance.now() + offset_ms;
}
