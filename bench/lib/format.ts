/** Figures as text: integers, milliseconds, ratios, cores, and plain-text tables. */
import type { BenchTable } from './suite.js';

/** 12345.6 → "12,346" */
export const fmtInt = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US'));

/** Milliseconds with 3 significant digits: 0.0123 → "0.0123", 1.234 → "1.23", 45.67 → "45.7". */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms === 0) return '0';
  return ms >= 100 ? String(Math.round(ms)) : String(Number(ms.toPrecision(3)));
}

/** a/b rounded to 2 decimals (null when b is 0). */
export const ratio = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 100) / 100 : null);

/** The middle value (the mean of the middle two of an even count); NaN of none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const fmtRatio = (r: number | null | undefined): string => (r === null || r === undefined ? '-' : `${r.toFixed(2)}x`);

export const fmtCores = (c: number | null | undefined): string => (c === null || c === undefined ? '-' : c.toFixed(2));

/** Plain-text table with right-aligned numeric-looking cells. */
export function renderTable(t: BenchTable): string {
  const cells = [t.columns, ...t.rows.map((r) => r.map((c) => String(c)))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = /^[-+]?[\d,.]+(x|%| ms)?$|^-$/;
  const line = (r: string[]) =>
    r
      .map((c, i) => (i > 0 && numeric.test(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [t.title, line(cells[0]!), sep, ...cells.slice(1).map(line)].join('\n');
}
