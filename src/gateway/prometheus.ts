/**
 * A small Prometheus text exposition (format 0.0.4): counters and
 * histograms with labels, and a writer for families rendered from numbers
 * gathered elsewhere (the storage's own histogram). Bounded: a family holds
 * at most SERIES_MAX label sets; past that, new series are dropped and counted.
 */
export type Labels = Record<string, string>;

const SERIES_MAX = 1000;

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(",")}}`;
}

export function formatNumber(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

/** Lines of one family; callers append samples with `sample`. */
export class FamilyWriter {
  readonly lines: string[] = [];
  constructor(readonly name: string, help: string, type: "counter" | "gauge" | "histogram") {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
  }

  sample(suffix: string, labels: Labels, value: number): this {
    this.lines.push(`${this.name}${suffix}${formatLabels(labels)} ${formatNumber(value)}`);
    return this;
  }

  /** A histogram from per-bucket (not cumulative) counts with upper bounds; `overflow` is the count above the last bound. */
  histogram(labels: Labels, bounds: readonly number[], counts: readonly number[], sum: number, overflow = 0): this {
    let cumulative = 0;
    bounds.forEach((bound, i) => {
      cumulative += counts[i] ?? 0;
      this.sample("_bucket", { ...labels, le: formatNumber(bound) }, cumulative);
    });
    const total = cumulative + overflow;
    this.sample("_bucket", { ...labels, le: "+Inf" }, total);
    this.sample("_sum", labels, sum);
    this.sample("_count", labels, total);
    return this;
  }
}

export class Counter {
  private readonly series = new Map<string, { labels: Labels; value: number }>();
  dropped = 0;
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels, by = 1): void {
    const key = JSON.stringify(labels);
    const entry = this.series.get(key);
    if (entry !== undefined) entry.value += by;
    else if (this.series.size < SERIES_MAX) this.series.set(key, { labels, value: by });
    else this.dropped += 1;
  }

  get(labels: Labels): number {
    return this.series.get(JSON.stringify(labels))?.value ?? 0;
  }

  render(): string[] {
    const writer = new FamilyWriter(this.name, this.help, "counter");
    for (const entry of this.series.values()) writer.sample("", entry.labels, entry.value);
    return writer.lines;
  }
}

export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; overflow: number; sum: number }>();
  dropped = 0;
  constructor(readonly name: string, readonly help: string, readonly bounds: readonly number[]) {}

  observe(labels: Labels, value: number): void {
    const key = JSON.stringify(labels);
    let entry = this.series.get(key);
    if (entry === undefined) {
      if (this.series.size >= SERIES_MAX) {
        this.dropped += 1;
        return;
      }
      entry = { labels, counts: this.bounds.map(() => 0), overflow: 0, sum: 0 };
      this.series.set(key, entry);
    }
    entry.sum += value;
    const index = this.bounds.findIndex((bound) => value <= bound);
    if (index === -1) entry.overflow += 1;
    else entry.counts[index] = (entry.counts[index] ?? 0) + 1;
  }

  render(): string[] {
    const writer = new FamilyWriter(this.name, this.help, "histogram");
    for (const entry of this.series.values()) writer.histogram(entry.labels, this.bounds, entry.counts, entry.sum, entry.overflow);
    return writer.lines;
  }
}
