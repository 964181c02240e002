import { HOOK_NEWS_TAIL, HOOK_SESSIONS_REMEMBERED } from '../../shared/limits-features.js';
import { digestLines, isLostClaim, isResume, type Me } from './digest.js';
import { firstAfter, type NewsClock, type NewsMark, type TailEvent } from './news-clock.js';

/** A glob's characters before its first that may be special: every path it matches starts with them. */
const plainStart = (glob: string): string => {
  const i = glob.search(/[\\*?[]/);
  return i < 0 ? glob : glob.slice(0, i);
};

/** A `lease.acquired` event as the index keeps it: what decides whom it may concern. */
interface Acquired {
  id: number;
  holder: unknown;
  project: unknown;
  /** Each resource's characters before its first special one (null: a resource that is not a string). */
  starts: string[] | null;
}

/**
 * Whom the events of a node's tail may concern, by the fields digestLines (digest.ts) makes lines
 * of: the newest event naming each agent (a claim to resume, a claim or lease lost as stale),
 * making a task ready in each project, ending each lease; the leases taken, with the files they
 * cover. A quiet hook asks it whether any event since its mark may concern its session — a few
 * lookups, where digestLines of the events themselves goes through each one since (at 1,000
 * agents, hundreds a hook). Never false where digestLines makes a line of them
 * (test/unit/digest.test.ts): each line digestLines makes of an event needs a case here. Bounded:
 * past HOOK_SESSIONS_REMEMBERED keys the maps start again, and a mark older than that is answered
 * "may" (a digest of its events is then made).
 */
export class ConcernIndex {
  private readonly named = new Map<string, number>();
  private readonly ready = new Map<string, number>();
  private readonly released = new Map<string, number>();
  private acquired: Acquired[] = [];
  /** The newest event of any other topic (a budget exceeded): news to anyone. */
  private other = 0;
  /** Marks below it may miss what the maps forgot. */
  private floor: number;

  /** `floor`: the newest event kept before the index was told of them. */
  constructor(floor: number) {
    this.floor = floor;
  }

  /** An index of the events `clock` keeps from now on. */
  static of(clock: NewsClock): ConcernIndex {
    const index = new ConcernIndex(clock.newestDigestEvent());
    clock.onKept((e) => index.add(e));
    return index;
  }

  add(e: TailEvent): void {
    const x = e.data;
    if (e.topic.startsWith('task.')) {
      if (typeof x.claimed_by === 'string' && isResume(e.topic, x, x.claimed_by)) this.set(this.named, x.claimed_by, e.id);
      if (typeof x.released_from === 'string' && isLostClaim(e.topic, x, x.released_from)) this.set(this.named, x.released_from, e.id);
      if (x.status === 'ready' && typeof x.project === 'string') this.set(this.ready, x.project, e.id);
    } else if (e.topic === 'lease.released') {
      if (typeof x.holder === 'string' && x.reason === 'stale') this.set(this.named, x.holder, e.id);
      if (typeof x.id === 'string') this.set(this.released, x.id, e.id);
    } else if (e.topic === 'lease.acquired') {
      const r = x.resources;
      const starts = Array.isArray(r) && r.every((g) => typeof g === 'string') ? (r as string[]).map(plainStart) : null;
      this.acquired.push({ id: e.id, holder: x.holder, project: x.project, starts });
      if (this.acquired.length >= 2 * HOOK_NEWS_TAIL) {
        const cut = this.acquired.length - HOOK_NEWS_TAIL;
        this.floor = Math.max(this.floor, this.acquired[cut - 1]!.id);
        this.acquired = this.acquired.slice(cut);
      }
    } else this.other = e.id;
  }

  /** Whether an event after `since` may concern `me` (its session's edited files, and the leases that refused it edits). */
  mayConcern(since: number, me: Me, edited: readonly string[], denied: ReadonlyArray<{ lease_id: string }>): boolean {
    if (since < this.floor || this.other > since) return true;
    if ((this.named.get(me.id) ?? 0) > since || (this.ready.get(me.project) ?? 0) > since) return true;
    for (const d of denied) if ((this.released.get(d.lease_id) ?? 0) > since) return true;
    if (edited.length === 0) return false;
    for (let i = firstAfter(this.acquired, since); i < this.acquired.length; i++) {
      const a = this.acquired[i]!;
      if (a.holder === me.id || (typeof a.project === 'string' && a.project !== me.project)) continue;
      if (a.starts === null) return true;
      for (const s of a.starts) for (const p of edited) if (p.startsWith(s)) return true;
    }
    return false;
  }

  private set(m: Map<string, number>, key: string, id: number): void {
    if (m.size >= HOOK_SESSIONS_REMEMBERED && !m.has(key)) {
      // Forgotten whole: what they said of the events up to this one is lost.
      this.named.clear();
      this.ready.clear();
      this.released.clear();
      this.floor = Math.max(this.floor, id);
    }
    m.set(key, id);
  }
}

/**
 * The newest event of a digest's topics when nothing since `m` is news to `me`'s session, told
 * without a read; null when something may be: its inbox or the audit epoch moved, the tail lacks
 * some of the events, or one of them makes a line of its digest (the index first, then, when it
 * cannot rule them out, digestLines of them).
 */
export function quietThrough(clock: NewsClock, index: ConcernIndex, m: NewsMark, me: Me, s: { edited: readonly string[]; denied: ReadonlyArray<{ path: string; lease_id: string }> }): number | null {
  const newest = clock.newestAfter(m, me.id);
  if (newest === null || newest <= m.event || !index.mayConcern(m.event, me, s.edited, s.denied)) return newest;
  const after = clock.events(m.event);
  if (after === null || digestLines({ me, messages: [], events: after, audit: [], edited: s.edited, denied: s.denied }).length > 0) return null;
  return newest;
}
