/** Text output of the commands: numbers, min/mean/max triples, aligned tables. */
import type { Stats } from '../tensor/stats';

export const fmt = (x: number) => (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4));

export const fmtStats = (s?: Stats) => (s ? `${fmt(s.min)} / ${fmt(s.mean)} / ${fmt(s.max)}` : '');

/** Rows under a header, each column padded to its widest cell. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
}
