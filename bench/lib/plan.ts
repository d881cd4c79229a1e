/** Sizes of every scenario, full and --quick, in one place. */

export interface Plan {
  quick: boolean;
  /** Active for the whole of scenario 1 (deadlines 10 h out); the storm set of scenario 2. */
  background_accounts: number;
  /** Run out of money during scenario 1, at random instants spread over the window. */
  depleting_accounts: number;
  depletion_window_ms: number;
  /** Depletions before the measured window, so connections and code are warm for ours and for the baseline alike. */
  warmup_accounts: number;
  /** Customers the API scenarios write to (one account each). */
  api_customers: number;
  /** Each kind of call runs api_rounds times for api_phase_ms, interleaved, so a change in machine load hits all kinds alike. */
  api_phase_ms: number;
  api_rounds: number;
  /** Calls in flight through the router (scenario 5) and HTTP connections to the gateway (scenario 4). */
  iproto_concurrency: number;
  http_connections: number;
  memory_accounts: number;
  memory_memtx_mb: number;
  /** Accounts whose zero instant passes while the master is down (scenario 7). */
  overdue_accounts: number;
}

export function makePlan(quick: boolean): Plan {
  return quick
    ? {
      quick, background_accounts: 20_000, depleting_accounts: 5_000, depletion_window_ms: 4_000, warmup_accounts: 300,
      api_customers: 5_000, api_phase_ms: 1_500, api_rounds: 2, iproto_concurrency: 64, http_connections: 32,
      memory_accounts: 100_000, memory_memtx_mb: 512, overdue_accounts: 10_000,
    }
    : {
      quick, background_accounts: 100_000, depleting_accounts: 60_000, depletion_window_ms: 40_000, warmup_accounts: 1_000,
      api_customers: 20_000, api_phase_ms: 5_000, api_rounds: 2, iproto_concurrency: 64, http_connections: 32,
      memory_accounts: 1_000_000, memory_memtx_mb: 2048, overdue_accounts: 100_000,
    };
}

/** Customer id ranges: one account (id 1) each. */
export const IDS = {
  background_first: 1,
  warmup_first: 900_001,
  depleting_first: 1_000_001,
  api_first: 2_000_001,
} as const;

import { seededRandom } from "../../test/support/random.ts";

export { seededRandom };

/** `count` ids from `first`, each with a zero instant at a random whole millisecond in [start_ms, start_ms + window_ms), ascending. */
export function spreadSchedule(first: number, count: number, start_ms: number, window_ms: number, seed: number): Array<[number, number]> {
  const random = seededRandom(seed);
  const schedule: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) schedule.push([first + i, start_ms + Math.floor(random() * window_ms)]);
  return schedule.sort((a, b) => a[1] - b[1]);
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}
