/** Closed-loop load at a fixed concurrency, and interleaved phases so a drift in machine load hits every kind of call alike. */
import { performance } from "node:perf_hooks";
import { summarize, type Summary } from "./stats.ts";

export interface PhaseResult {
  calls: number;
  errors: number;
  elapsed_ms: number;
  latencies_ms: number[];
  first_error?: string;
  /** CPU seconds each watched process used during the phase. */
  cpu_s?: Record<string, number>;
}

export interface KindResult {
  calls: number;
  errors: number;
  per_s: number;
  summary: Summary;
  latencies_ms: number[];
  first_error?: string;
  /** CPU microseconds per call, per watched process. */
  cpu_us_per_call: Record<string, number>;
}

/** Processes whose CPU a phase accounts for: name → a reader of its CPU seconds so far. */
export type CpuWatch = Record<string, () => number>;

/** Runs `phase` and adds the CPU each watched process used meanwhile. */
export async function withCpu(watch: CpuWatch, phase: () => Promise<PhaseResult>): Promise<PhaseResult> {
  const before = Object.fromEntries(Object.entries(watch).map(([name, read]) => [name, read()]));
  const result = await phase();
  result.cpu_s = Object.fromEntries(Object.entries(watch).map(([name, read]) => [name, read() - before[name]!]));
  return result;
}

/** This process's CPU seconds so far (user + system). */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** `concurrency` loops, each awaiting one call at a time, for `duration_ms`. */
export async function closedLoop(duration_ms: number, concurrency: number, call: () => Promise<unknown>): Promise<PhaseResult> {
  const result: PhaseResult = { calls: 0, errors: 0, elapsed_ms: 0, latencies_ms: [] };
  const started = performance.now();
  const end = started + duration_ms;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await call();
        result.latencies_ms.push(performance.now() - t0);
        result.calls += 1;
      } catch (error) {
        result.errors += 1;
        result.first_error ??= String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  result.elapsed_ms = performance.now() - started;
  return result;
}

/** Runs every kind `rounds` times in turn (a, b, c, a, b, c) and merges each kind's phases. */
export async function interleaved<K extends string>(kinds: readonly K[], rounds: number, phase: (kind: K) => Promise<PhaseResult>): Promise<Record<K, KindResult>> {
  const phases = new Map<K, PhaseResult[]>(kinds.map((kind) => [kind, []]));
  for (let round = 0; round < rounds; round++) {
    for (const kind of kinds) phases.get(kind)!.push(await phase(kind));
  }
  const merged = {} as Record<K, KindResult>;
  for (const kind of kinds) {
    const list = phases.get(kind)!;
    const latencies = list.flatMap((p) => p.latencies_ms);
    const calls = list.reduce((sum, p) => sum + p.calls, 0);
    const elapsed = list.reduce((sum, p) => sum + p.elapsed_ms, 0);
    const cpu_us_per_call: Record<string, number> = {};
    for (const phase of list) {
      for (const [name, seconds] of Object.entries(phase.cpu_s ?? {})) cpu_us_per_call[name] = (cpu_us_per_call[name] ?? 0) + seconds;
    }
    for (const name of Object.keys(cpu_us_per_call)) cpu_us_per_call[name] = (cpu_us_per_call[name]! * 1e6) / Math.max(1, calls);
    const result: KindResult = {
      calls, errors: list.reduce((sum, p) => sum + p.errors, 0), per_s: calls / (elapsed / 1000),
      summary: summarize(latencies), latencies_ms: latencies, cpu_us_per_call,
    };
    const first_error = list.find((p) => p.first_error !== undefined)?.first_error;
    if (first_error !== undefined) result.first_error = first_error;
    merged[kind] = result;
  }
  return merged;
}

/** Customer ids round robin over [first, first + count). */
export function idCycle(first: number, count: number): () => number {
  let next = 0;
  return () => {
    const id = first + next;
    next = (next + 1) % count;
    return id;
  };
}

/** "tarantool_tx 41 µs, gateway 80 µs" for the notes. */
export function cpuLine(result: KindResult): string {
  return Object.entries(result.cpu_us_per_call).map(([name, us]) => `${name} ${us.toFixed(1)} µs`).join(", ");
}
