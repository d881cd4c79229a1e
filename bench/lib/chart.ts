/**
 * An SVG of the latency distributions, written by hand (no browser, no
 * library): one panel per kind, HdrHistogram-style: percentile on the x axis
 * stretched towards the tail (0, 90, 99, 99.9 ... equally spaced), latency on
 * a log y axis. Ours solid, baselines dashed.
 */
import type { Distribution } from "./report.ts";

const WIDTH = 980;
const PANEL_HEIGHT = 440;
const MARGIN = { left: 78, right: 250, top: 46, bottom: 56 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const TITLES: Record<Distribution["panel"], string> = {
  notification: "Zero instant → GET at the receiver (depletion, storm, seed scan)",
  api: "Request latency (gateway HTTP and Router over iproto)",
};

function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** Position of a percentile fraction: -log10(1 - p), capped where the data ends. */
function nines(fraction: number, cap: number): number {
  return Math.min(cap, -Math.log10(Math.max(1e-12, 1 - fraction)));
}

function latencyLabel(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toLocaleString("en-US")} s`;
  return `${ms} ms`;
}

function panel(distributions: Distribution[], kind: Distribution["panel"], top: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const x0 = MARGIN.left;
  const y0 = top + MARGIN.top;
  const values = distributions.flatMap((d) => d.quantiles.map(([, v]) => v)).filter((v) => v > 0);
  const lowDecade = Math.floor(Math.log10(Math.max(0.01, Math.min(...values))));
  const highDecade = Math.ceil(Math.log10(Math.max(...values)));
  const xCap = Math.max(2, Math.ceil(Math.max(...distributions.map((d) => nines(d.quantiles.at(-1)?.[0] ?? 0, 6)))));
  const sx = (fraction: number): number => x0 + (nines(fraction, xCap) / xCap) * plotW;
  const sy = (ms: number): number => y0 + plotH - ((Math.log10(Math.max(ms, 10 ** lowDecade)) - lowDecade) / (highDecade - lowDecade)) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="${x0}" y="${top + 26}" font-size="16" font-weight="bold">${escape(TITLES[kind])}</text>`);
  parts.push(`<rect x="${x0}" y="${y0}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  for (let decade = lowDecade; decade <= highDecade; decade++) {
    const y = sy(10 ** decade);
    parts.push(`<line x1="${x0}" y1="${y}" x2="${x0 + plotW}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${x0 - 8}" y="${y + 4}" font-size="12" text-anchor="end">${escape(latencyLabel(Number((10 ** decade).toPrecision(1))))}</text>`);
  }
  for (let n = 0; n <= xCap; n++) {
    const x = x0 + (n / xCap) * plotW;
    const label = n === 0 ? "0%" : `${(100 - 100 / 10 ** n).toFixed(Math.max(0, n - 2))}%`;
    parts.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + plotH}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${x}" y="${y0 + plotH + 18}" font-size="12" text-anchor="middle">${label}</text>`);
  }
  parts.push(`<text x="${x0 + plotW / 2}" y="${y0 + plotH + 40}" font-size="13" text-anchor="middle">percentile</text>`);
  parts.push(`<text x="${x0 - 60}" y="${y0 + plotH / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 ${x0 - 60} ${y0 + plotH / 2})">latency (log)</text>`);
  distributions.forEach((d, i) => {
    const color = COLORS[i % COLORS.length]!;
    const points = d.quantiles.map(([p, v]) => `${sx(p).toFixed(1)},${sy(v).toFixed(1)}`).join(" ");
    const dash = d.ours ? "" : ` stroke-dasharray="6 4"`;
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="${d.ours ? 2.5 : 1.8}"${dash}/>`);
    const ly = y0 + 8 + i * 20;
    const lx = x0 + plotW + 16;
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 26}" y2="${ly}" stroke="${color}" stroke-width="${d.ours ? 2.5 : 1.8}"${dash}/>`);
    parts.push(`<text x="${lx + 32}" y="${ly + 4}" font-size="12">${escape(d.name)}</text>`);
  });
  return parts.join("\n");
}

export function latencyChart(distributions: Distribution[], subtitle: string): string {
  const kinds = (["notification", "api"] as const).filter((kind) => distributions.some((d) => d.panel === kind && d.quantiles.length > 0));
  const height = kinds.length * PANEL_HEIGHT + 40;
  const body = kinds.map((kind, i) => panel(distributions.filter((d) => d.panel === kind && d.quantiles.length > 0), kind, 30 + i * PANEL_HEIGHT));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="13" fill="#555">${escape(subtitle)}</text>`,
    ...body,
    "</svg>",
  ].join("\n");
}
