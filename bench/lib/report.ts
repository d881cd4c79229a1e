/**
 * What a scenario reports: table rows (each figure beside the baseline
 * measured in the same run, and their ratio), latency distributions for the
 * chart, and raw numbers for the JSON file.
 */
import { percentile, sortedCopy } from "./stats.ts";

export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  ours: number;
  /** What the baseline is, in a few words. */
  baseline_name: string;
  baseline: number;
  /** "≤ 5 ms", "≥ 80% of baseline"...; empty when the issue sets no goal for this figure. */
  goal: string;
  met: boolean | null;
}

export interface Distribution {
  name: string;
  panel: "notification" | "api";
  /** [percentile as a fraction, latency in ms], ascending. */
  quantiles: Array<[number, number]>;
  ours: boolean;
}

export interface Outcome {
  rows: Row[];
  distributions: Distribution[];
  raw: Record<string, unknown>;
  notes: string[];
}

export function emptyOutcome(): Outcome {
  return { rows: [], distributions: [], raw: {}, notes: [] };
}

/** Quantiles on the HDR grid: 0, then 1 - 10^-k for k up to log10(n) in steps of 0.05, then the maximum. */
export function hdrQuantiles(values: ArrayLike<number>): Array<[number, number]> {
  const sorted = sortedCopy(values);
  if (sorted.length === 0) return [];
  const points: Array<[number, number]> = [[0, sorted[0]!]];
  const top = Math.log10(sorted.length);
  for (let k = 0.05; k < top; k += 0.05) {
    const fraction = 1 - 10 ** -k;
    points.push([fraction, percentile(sorted, fraction * 100)]);
  }
  points.push([1 - 1 / sorted.length, sorted[sorted.length - 1]!]);
  return points;
}

export function distribution(name: string, panel: Distribution["panel"], values: ArrayLike<number>, ours: boolean): Distribution {
  return { name, panel, quantiles: hdrQuantiles(values), ours };
}

export function ratio(row: Row): number {
  return row.baseline === 0 || !Number.isFinite(row.baseline) ? NaN : row.ours / row.baseline;
}

function format(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "n/a";
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const text = value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit === "" ? text : `${text} ${unit}`;
}

function formatRatio(row: Row): string {
  const r = ratio(row);
  if (!Number.isFinite(r)) return "n/a";
  if (row.unit === "/s" || row.goal.includes("%")) return `${(r * 100).toFixed(r >= 10 ? 0 : 1)}%`;
  if (r > 0 && r < 0.01) return `1/${Math.round(1 / r).toLocaleString("en-US")}`;
  return r >= 100 ? `${Math.round(r).toLocaleString("en-US")}×` : `${r.toFixed(2)}×`;
}

function cells(row: Row): string[] {
  const met = row.met === null ? "" : row.met ? "yes" : "**no**";
  return [row.scenario, row.metric, format(row.ours, row.unit), `${format(row.baseline, row.unit)} (${row.baseline_name})`, formatRatio(row), row.goal, met];
}

const HEADER = ["scenario", "figure", "ours", "baseline (same run)", "ours ÷ baseline", "goal", "met"];

export function markdownTable(rows: Row[]): string {
  const lines = [`| ${HEADER.join(" | ")} |`, `|${HEADER.map(() => "---").join("|")}|`];
  for (const row of rows) lines.push(`| ${cells(row).map((cell) => cell.replaceAll("|", "\\|")).join(" | ")} |`);
  return lines.join("\n");
}

export function consoleTable(rows: Row[]): string {
  const table = [HEADER, ...rows.map((row) => cells(row).map((cell) => cell.replaceAll("**", "")))];
  const widths = HEADER.map((_, column) => Math.max(...table.map((line) => line[column]!.length)));
  const render = (line: string[]): string => line.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [render(table[0]!), widths.map((width) => "-".repeat(width)).join("  "), ...table.slice(1).map(render)].join("\n");
}
