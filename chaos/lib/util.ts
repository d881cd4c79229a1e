/**
 * Small helpers shared by the reliability, security, model and bad-input
 * tests (test/) and the long chaos suite (chaos/): exact decimal sums, bounded
 * waits, process memory.
 */
import { existsSync, readFileSync } from "node:fs";

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Money as a BigInt scaled by 10^SCALE: amounts (6 digits) times ms / 1000 fit exactly. */
export const SCALE = 12;
const FACTOR = 10n ** BigInt(SCALE);

export function scaled(value: string): bigint {
  const negative = value.startsWith("-");
  const [whole = "0", fraction = ""] = value.replace(/^-/, "").split(".");
  if (fraction.length > SCALE) throw new Error(`${value} has more than ${SCALE} fractional digits`);
  if (!/^\d+$/.test(whole) || !/^\d*$/.test(fraction)) throw new Error(`not a decimal: ${value}`);
  const result = BigInt(whole) * FACTOR + BigInt(fraction.padEnd(SCALE, "0") || "0");
  return negative ? -result : result;
}

/** The canonical decimal text of a scaled value, as the storage writes it (no trailing zeros). */
export function unscaled(value: bigint): string {
  const sign = value < 0n ? "-" : "";
  const abs = value < 0n ? -value : value;
  const fraction = (abs % FACTOR).toString().padStart(SCALE, "0").replace(/0+$/, "");
  return `${sign}${abs / FACTOR}${fraction === "" ? "" : `.${fraction}`}`;
}

/** A random amount with up to 6 fractional digits, between 0.000001 and `wholeMax`.999999. */
export function randomAmount(random: () => number, wholeMax = 1000): string {
  const whole = Math.floor(random() * (wholeMax + 1));
  const digits = Math.floor(random() * 7);
  if (digits === 0) return String(Math.max(1, whole));
  const fraction = String(Math.floor(random() * 10 ** digits)).padStart(digits, "0");
  const text = `${whole}.${fraction}`;
  return /^0\.0*$/.test(text) ? "0.000001" : text;
}

export { seededRandom as prng } from "../../test/support/random.ts";

/** Polls `probe` until it returns something other than undefined; throws after `timeoutMs`. */
export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, pauseMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? "" : ` (last error: ${String(last)})`}`);
    }
    await sleep(pauseMs);
  }
}

/** Resident set size of a process in KiB (from /proc), or undefined when it is gone. */
export function rssKiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const path = `/proc/${pid}/status`;
  if (!existsSync(path)) return undefined;
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(path, "utf8"));
  return match === null ? undefined : Number(match[1]);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One line of figures, printed by tests so a run's log carries them (node's runner shows stdout). */
export function report(label: string, figures: object): void {
  process.stdout.write(`# ${label}: ${JSON.stringify(figures)}\n`);
}

/** Runs `task` over `items` with at most `width` in flight. */
export async function inPool<T, R>(items: readonly T[], width: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}
