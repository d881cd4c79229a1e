/** Order statistics over raw samples: every reported figure is computed here, the same way for ours and for the baselines. */

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  min: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = sortedCopy(values);
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    mean: sorted.length === 0 ? NaN : sum / sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
    min: sorted.length === 0 ? NaN : sorted[0]!,
  };
}

/**
 * A distribution reduced to at most `points` (value, cumulative fraction)
 * pairs for the chart and the JSON: every quantile step of 1/points plus the
 * tail quantiles the table reports.
 */
export function cdfPoints(values: ArrayLike<number>, points = 200): Array<[number, number]> {
  const sorted = sortedCopy(values);
  if (sorted.length === 0) return [];
  const fractions = new Set<number>();
  for (let i = 0; i <= points; i++) fractions.add(i / points);
  for (const tail of [0.99, 0.995, 0.999, 0.9995, 0.9999]) fractions.add(tail);
  return [...fractions].sort((a, b) => a - b).map((fraction) => {
    const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
    return [sorted[index]!, fraction] as [number, number];
  });
}

export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
