import { MATCH_ALL, matcherFor, type Matcher } from '../../shared/glob.js';
import type { Awaitable } from '../../shared/awaitable.js';
import type { WebhookReader } from './reader.js';
import { WEBHOOK_BACKLOG_MAX, WEBHOOK_PATTERN_SETS_MAX } from '../../shared/limits-features.js';
import { setBounded } from '../../shared/bounded.js';

const matchers = new Map<string, Matcher>();

/** The matcher of a webhook's `patterns` column (a JSON array of globs), compiled once per distinct value. */
export function patternsMatcher(patterns: string): Matcher {
  let m = matchers.get(patterns);
  if (!m) {
    const ms = (JSON.parse(patterns) as string[]).map((p) => matcherFor(p));
    m = ms.includes(MATCH_ALL) ? MATCH_ALL : ms.length === 1 ? ms[0]! : (topic: string) => ms.some((x) => x(topic));
    setBounded(matchers, patterns, m, WEBHOOK_PATTERN_SETS_MAX);
  }
  return m;
}

/**
 * A webhook's view of the event log: it has had every event up to its cursor; the ones after it
 * that match its patterns are what it has yet to receive.
 */
export class Backlog {
  constructor(private readonly reader: WebhookReader) {}

  newest(): Awaitable<number> {
    return this.reader.newestEvent();
  }

  /**
   * The next events after `cursor` that `matches` accepts, oldest first: up to `max` of them,
   * among at most `scan` events, by topic alone (bodies are read only for the selected ones).
   * `scannedTo` is the last event looked at (all of them up to it either selected or not
   * matching); `ids` lists the selected ones, and `all` says every event in (cursor, scannedTo]
   * is among them.
   */
  async next(matches: Matcher, cursor: number, max: number, scan: number): Promise<{ ids: number[]; all: boolean; scannedTo: number }> {
    let scannedTo = cursor;
    const ids: number[] = [];
    let all = true;
    // Topics in chunks of `max`: a webhook taking every topic looks at just the events it sends.
    for (let looked = 0; looked < scan && ids.length < max; ) {
      const topics = await this.reader.topicsAfter(scannedTo, Number.MAX_SAFE_INTEGER, Math.min(max, scan - looked));
      for (const r of topics) {
        if (matches(r.topic)) {
          if (ids.length === max) break;
          ids.push(r.id);
        } else all = false;
        scannedTo = r.id;
        looked++;
      }
      if (topics.length < max) break;
    }
    return { ids, all, scannedTo };
  }

  /**
   * What a webhook has yet to receive: the events after its cursor that match its `patterns`,
   * within the backlog bound behind `newest` (older ones will be passed over).
   */
  pending(patterns: string, cursor: number, newest: number): Awaitable<number> {
    return this.countMatching(patternsMatcher(patterns), Math.max(cursor, newest - WEBHOOK_BACKLOG_MAX), newest);
  }

  /** How many events in (`from`, `to`] match (read in chunks; the range is bounded by the backlog). */
  countMatching(matches: Matcher, from: number, to: number): Awaitable<number> {
    // Event ids have no gaps (one writer hands them out in commit order; a rolled-back insert
    // gives its id back) but at the old end, where pruned events were passed over as well.
    if (matches === MATCH_ALL) return Math.max(0, to - from);
    return this.count(matches, from, to);
  }

  private async count(matches: Matcher, from: number, to: number): Promise<number> {
    let n = 0;
    let at = from;
    for (;;) {
      const rows = await this.reader.topicsAfter(at, to, 4096);
      for (const r of rows) if (matches(r.topic)) n++;
      if (rows.length < 4096) return n;
      at = rows[rows.length - 1]!.id;
    }
  }
}
