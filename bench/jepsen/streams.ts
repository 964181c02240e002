/**
 * Checks an event stream's delivery: what subscribers received across reconnects against what was
 * published. Not a linearizability model: ids are assigned by the server, so the question is only
 * whether each subscriber saw every acknowledged event once, in id order, and nothing else.
 */

/** A publish as its client recorded it: `id` the event id the server acknowledged, absent when indeterminate. */
export interface Publish {
  client: number | string;
  call: number;
  ret: number;
  id?: number;
}

/** One connection of a subscriber: the cursor it connected with (null: live only, no resume) and the ids it received, in order. */
export interface Session {
  resumeAfter: number | null;
  received: readonly number[];
}

export interface Subscriber {
  name: string;
  sessions: readonly Session[];
}

/**
 * A delivery anomaly. `session` and `index` place it in the subscriber's sessions and that
 * session's received ids.
 * - duplicate: an id the subscriber had already received, delivered again within one session or
 *   in a later one although its resume cursor was at or past it.
 * - reorder: an id not above the previous one of its session (or the session's cursor), never
 *   received before.
 * - gap: an acknowledged event between a session's start (its cursor, else its first id) and the
 *   largest id it received, which the subscriber never received in any session.
 * - phantom: an id no publish acknowledged, when there are more such ids (over all subscribers)
 *   than indeterminate publishes that might have been given them.
 * - reused-id: two acknowledged publishes given the same id.
 */
export type StreamAnomaly =
  | { kind: 'duplicate'; subscriber: string; session: number; index: number; id: number }
  | { kind: 'reorder'; subscriber: string; session: number; index: number; id: number; after: number }
  | { kind: 'gap'; subscriber: string; session: number; id: number; from: number | null; to: number }
  | { kind: 'phantom'; subscriber: string; session: number; index: number; id: number; unexplained: number; indeterminate: number }
  | { kind: 'reused-id'; id: number; publishes: number };

/** The anomalies, in a fixed order: reused ids, then each subscriber's, session by session. */
export function checkStreams(publishes: readonly Publish[], subscribers: readonly Subscriber[]): StreamAnomaly[] {
  const out: StreamAnomaly[] = [];
  const counts = new Map<number, number>();
  for (const p of publishes) if (p.id !== undefined) counts.set(p.id, (counts.get(p.id) ?? 0) + 1);
  for (const [id, c] of [...counts].sort((a, b) => a[0] - b[0])) if (c > 1) out.push({ kind: 'reused-id', id, publishes: c });
  const acked = [...counts.keys()].sort((a, b) => a - b);
  const pending = publishes.length - publishes.reduce((c, p) => c + (p.id === undefined ? 0 : 1), 0);

  // Ids received that nobody acknowledged: phantoms when indeterminate publishes cannot account for all.
  const unexplained = new Set<number>();
  for (const s of subscribers) for (const sess of s.sessions) for (const id of sess.received) if (!counts.has(id)) unexplained.add(id);
  const phantoms = unexplained.size > pending;

  for (const s of subscribers) {
    const got = new Set<number>();
    const flagged = new Set<number>();
    s.sessions.forEach((sess, session) => {
      let prev = sess.resumeAfter ?? -Infinity;
      sess.received.forEach((id, index) => {
        if (id <= prev) out.push(got.has(id) ? { kind: 'duplicate', subscriber: s.name, session, index, id } : { kind: 'reorder', subscriber: s.name, session, index, id, after: prev });
        else prev = id;
        if (phantoms && unexplained.has(id) && !flagged.has(id)) {
          flagged.add(id);
          out.push({ kind: 'phantom', subscriber: s.name, session, index, id, unexplained: unexplained.size, indeterminate: pending });
        }
        got.add(id);
      });
    });
    const missed = new Set<number>();
    s.sessions.forEach((sess, session) => {
      if (sess.received.length === 0) return;
      const to = sess.received.reduce((m, id) => Math.max(m, id), -Infinity);
      const from = sess.resumeAfter;
      // A live-only session promises nothing before the first event it got (which it got).
      for (let i = firstAbove(acked, from ?? sess.received[0]); i < acked.length && acked[i] <= to; i++) {
        const id = acked[i];
        if (got.has(id) || missed.has(id)) continue;
        missed.add(id);
        out.push({ kind: 'gap', subscriber: s.name, session, id, from, to });
      }
    });
  }
  return out;
}

/** Index of the first element of `xs` (sorted) greater than `x`. */
function firstAbove(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** One line for a report. */
export function describeAnomaly(a: StreamAnomaly): string {
  switch (a.kind) {
    case 'reused-id':
      return `id ${a.id} was acknowledged to ${a.publishes} publishes`;
    case 'duplicate':
      return `${a.subscriber} received ${a.id} again (session ${a.session}, #${a.index})`;
    case 'reorder':
      return `${a.subscriber} received ${a.id} after ${a.after} (session ${a.session}, #${a.index})`;
    case 'gap':
      return `${a.subscriber} never received acknowledged ${a.id}, inside session ${a.session}'s range ${a.from === null ? 'from its first event' : `after ${a.from}`} to ${a.to}`;
    case 'phantom':
      return `${a.subscriber} received ${a.id}, never acknowledged (${a.unexplained} such ids, ${a.indeterminate} indeterminate publishes) (session ${a.session}, #${a.index})`;
  }
}
