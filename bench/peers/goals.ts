/** The speed goals of the peers suite, judged in each pass (or round of a duel) where both sides ran. */
import { fmtMs, median } from '../lib/format.js';
import { CAS_CLIENTS, WATCHERS, type Row } from './rows.js';

/**
 * One of the speed goals, judged in each pass (or round) where both sides ran: what was measured,
 * whether it met the bound, and the two figures it compared (koor's, and the peer's or the bound).
 */
export interface Goal {
  goal: string;
  passes: Array<{ pass: number; shown: string; met: boolean; koor: number; other: number }>;
  /** Over the passes (rounds): each side's median figure, judged as one pass is. */
  median: { shown: string; met: boolean };
}

/** A goal's judge: the figures it compares, how they read, and whether koor's meets the bound. */
interface Judge {
  figures: (pass: number) => { koor: number; other: number } | null;
  shown: (koor: number, other: number) => string;
  holds: (koor: number, other: number) => boolean;
}

/**
 * The speed goals as this suite measures them, per pass (or per round of a duel): a pass decides
 * a goal only when every row it needs ran (and passed its check) in that pass. Single passes flip
 * on a noisy machine; the count says how often each held.
 */
export function issueGoals(get: (row: string, peer: string, pass: number) => Row | undefined, passes: readonly number[]): Goal[] {
  const ok = (r: Row | undefined): r is Row => r !== undefined && r.ok;
  const num = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
  const vs = (row: string, peer: string, f: (r: Row) => number | null, holds: Judge['holds'], shown: Judge['shown']): Judge => ({
    figures: (pass) => {
      const k = get(row, 'koor', pass);
      const o = get(row, peer, pass);
      if (!ok(k) || !ok(o)) return null;
      const a = f(k);
      const b = f(o);
      return num(a) && num(b) ? { koor: a, other: b } : null;
    },
    shown,
    holds,
  });
  const ms = (n: number) => `${fmtMs(n)} ms`;
  // Truncated, not rounded: a ratio shown as meeting its bound does (0.4996 is 0.49x, not 0.50x).
  const x = (n: number) => `${(Math.floor(n * 100) / 100).toFixed(2)}x`;
  const own = (row: string, f: (r: Row) => number | null, bound: number, fmt: (n: number) => string): Judge => ({
    figures: (pass) => {
      const k = get(row, 'koor', pass);
      const a = ok(k) ? f(k) : null;
      return num(a) ? { koor: a, other: bound } : null;
    },
    shown: (a) => fmt(a),
    holds: (a, b) => a <= b,
  });
  const atLeast = (row: string, peer: string, times: number): Judge => vs(row, peer, (r) => r.ops_per_s, (a, b) => a >= times * b, (a, b) => x(a / b));
  const noWorse = (row: string, f: (r: Row) => number | null): Judge => vs(row, 'etcd', f, (a, b) => a <= b, (a, b) => `${ms(a)} vs ${ms(b)}`);
  const judged: Array<[string, Judge]> = [
    ['server CPU per PUT at 50 connections <= 60 µs', own('write c50', (r) => r.server_us_per_op, 60, (n) => `${n} µs`)],
    ["one agent's write (1 connection): p50 <= etcd's", noWorse('write c1', (r) => r.p50_ms)],
    ["one agent's write (1 connection): p99 <= etcd's", noWorse('write c1', (r) => r.p99_ms)],
    ['contended CAS (16 clients) >= 0.5x Redis', atLeast(`cas ×${CAS_CLIENTS}`, 'redis', 0.5)],
    ['writes at 4 connections >= 2x etcd', atLeast('write c4', 'etcd', 2)],
    ['writes at 50 connections >= 2x etcd', atLeast('write c50', 'etcd', 2)],
    ['PUT p99 at 50 connections <= 20 ms', own('write c50', (r) => r.p99_ms, 20, ms)],
    ['reads (50 connections) ahead of etcd', atLeast('read c50', 'etcd', 1)],
    ['watch fan-out ahead of etcd', atLeast(`watch ×${WATCHERS}`, 'etcd', 1)],
  ];
  return judged.flatMap(([goal, j]) => {
    const seen = passes.flatMap((pass) => {
      const f = j.figures(pass);
      return f === null ? [] : [{ pass, shown: j.shown(f.koor, f.other), met: j.holds(f.koor, f.other), ...f }];
    });
    return seen.length === 0 ? [] : [{ goal, passes: seen, median: medianVerdict(seen, j) }];
  });
}

/**
 * A goal over a duel's rounds: the median of koor's figures against the median of the other
 * side's, judged as one pass is (each side's typical figure, not a pair's luck).
 */
function medianVerdict(passes: Goal['passes'], j: Judge): { shown: string; met: boolean } {
  const k = median(passes.map((p) => p.koor));
  const o = median(passes.map((p) => p.other));
  return { shown: j.shown(k, o), met: j.holds(k, o) };
}
