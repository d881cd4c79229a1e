/** Wall-clock time in integer milliseconds since the epoch, read once per operation at the edge. */
import * as clock from "clock";

export function nowMs(): number {
  return math.floor(clock.time() * 1000);
}
