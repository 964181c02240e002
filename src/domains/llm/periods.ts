import type { BudgetPeriod, BudgetPeriods } from '../../../schemas/rpc/writer.js';

/**
 * Budget periods, in UTC: a day, a week from Monday, a calendar month, or all time.
 * Each has a key (what a budget remembers its warning and exceeded events by: once per key) and
 * a start (storage text: the spend is what was recorded since).
 */
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export function periodsAt(nowMs: number): BudgetPeriods {
  const today = day(nowMs);
  const weekday = (new Date(nowMs).getUTCDay() + 6) % 7; // Monday 0
  const monday = day(Date.parse(`${today}T00:00:00Z`) - weekday * 86_400_000);
  const month = today.slice(0, 7);
  return {
    day: { key: today, start: `${today} 00:00:00` },
    week: { key: `week-${monday}`, start: `${monday} 00:00:00` },
    month: { key: month, start: `${month}-01 00:00:00` },
    total: { key: 'total', start: '' },
  };
}

/**
 * Seconds until a period ends (the next UTC midnight, Monday or first of the month), at least 1;
 * null for `total`, which never ends: a refusal then says nothing of when to retry.
 */
export function secondsLeft(period: BudgetPeriod, nowMs: number): number | null {
  if (period === 'total') return null;
  const d = new Date(nowMs);
  const [y, m, day] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()];
  const end =
    period === 'day' ? Date.UTC(y, m, day + 1) : period === 'week' ? Date.UTC(y, m, day + 7 - ((d.getUTCDay() + 6) % 7)) : Date.UTC(y, m + 1, 1);
  return Math.max(1, Math.ceil((end - nowMs) / 1000));
}
