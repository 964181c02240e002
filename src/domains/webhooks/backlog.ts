import { matcherFor, type Matcher } from '../../bus/glob.js';
import type { ReadDb } from '../../store.js';

export interface EventRow {
  id: number;
  topic: string;
  data: string;
  source: string;
  created_at: string;
}

const matchers = new Map<string, Matcher>();

/** The matcher of a webhook's `patterns` column (a JSON array of globs), compiled once per distinct value. */
export function patternsMatcher(patterns: string): Matcher {
  let m = matchers.get(patterns);
  if (!m) {
    const ms = (JSON.parse(patterns) as string[]).map((p) => matcherFor(p));
    m = ms.length === 1 ? ms[0]! : (topic: string) => ms.some((x) => x(topic));
    if (matchers.size > 10_000) matchers.clear();
    matchers.set(patterns, m);
  }
  return m;
}

/**
 * A webhook's view of the event log: it has had every event up to its cursor; the ones after it
 * that match its patterns are what it has yet to receive.
 */
export class Backlog {
  private readonly q;

  constructor(db: ReadDb) {
    this.q = {
      newest: db.prepare<[], number | null>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").pluck(),
      after: db.prepare<[number, number], EventRow>('SELECT id, topic, data, source, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?'),
      topicsAfter: db.prepare<[number, number, number], { id: number; topic: string }>('SELECT id, topic FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?'),
    };
  }

  newest(): number {
    return this.q.newest.get() ?? 0;
  }

  /** Up to `limit` events after `cursor`, oldest first. */
  after(cursor: number, limit: number): EventRow[] {
    return this.q.after.all(cursor, limit);
  }

  /** How many events in (`from`, `to`] match (read in chunks; the range is bounded by the backlog). */
  countMatching(matches: Matcher, from: number, to: number): number {
    let n = 0;
    let at = from;
    for (;;) {
      const rows = this.q.topicsAfter.all(at, to, 4096);
      for (const r of rows) if (matches(r.topic)) n++;
      if (rows.length < 4096) return n;
      at = rows[rows.length - 1]!.id;
    }
  }
}
