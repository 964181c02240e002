import { HOOK_NEWS_TAIL, HOOK_SESSIONS_REMEMBERED } from '../../shared/limits-features.js';
import { pathGlob } from '../../shared/path-glob.js';
import { digestLines, isLostClaim, isResume, type Me } from './digest.js';
import { firstAfter, type NewsClock, type NewsMark, type TailEvent } from './news-clock.js';

/** A glob's characters before its first that may be special: every path it matches starts with them. */
const plainStart = (glob: string): string => {
  const i = glob.search(/[\\*?[]/);
  return i < 0 ? glob : glob.slice(0, i);
};

/**
 * The newest leases taken on a file or under a folder: by whom the newest was, and the newest by
 * anyone else (0: none) — whether one after a mark is another agent's is then two comparisons.
 */
interface Taken {
  id: number;
  holder: string;
  other: number;
}

/** A `lease.acquired` event whose fields are not all strings (none this server writes), as the index keeps it. */
interface Acquired {
  id: number;
  holder: unknown;
  project: unknown;
  /** Each resource's characters before its first special one (null: a resource that is not a string). */
  starts: string[] | null;
}

/**
 * Leases taken from event `from` on, by project, then by the file their glob is or the folder its
 * matches are under (`dir/`, '' for a glob of any folder). By project first: a lookup by the
 * session's own path strings, whose hashes V8 keeps, not by a key made for it (hashed anew at
 * each lookup).
 */
interface Generation {
  from: number;
  onFile: Map<string, Map<string, Taken>>;
  underFolder: Map<string, Map<string, Taken>>;
  /** Paths kept in both. */
  size: number;
}

const generation = (from: number): Generation => ({ from, onFile: new Map(), underFolder: new Map(), size: 0 });

/** A glob's literal start up to its last `/` (every path it matches is under that folder; '' for any). */
const folderOf = (start: string): string => start.slice(0, start.lastIndexOf('/') + 1);

/**
 * Whom the events of a node's tail may concern, by the fields digestLines (digest.ts) makes lines
 * of: the newest event naming each agent (a claim to resume, a claim or lease lost as stale),
 * making a task ready in each project, ending each lease; the leases taken, by the file each glob
 * is (an edit hook's lease) or the folder its matches are under (a task's paths). A quiet hook
 * asks it whether any event since its mark may concern its session — a few lookups for each file
 * it edited, where digestLines of the events themselves goes through each one since (at 1,000
 * agents, hundreds a hook), and so did this index's list of leases before it kept them by file
 * and folder. Never false where digestLines makes a line of them
 * (test/unit/digest.test.ts): each line digestLines makes of an event needs a case here. Bounded:
 * past HOOK_SESSIONS_REMEMBERED keys the maps of agents, projects and leases start again; the
 * files and folders are kept in two generations of up to HOOK_NEWS_TAIL each, the older dropped
 * when the newer fills. A mark older than what was dropped is answered "may" (a digest of its
 * events is then made).
 */
export class ConcernIndex {
  private readonly named = new Map<string, number>();
  private readonly ready = new Map<string, number>();
  private readonly released = new Map<string, number>();
  /** The leases taken on files and folders: the generation being filled, then the one before it. */
  private gens: [Generation, Generation] = [generation(0), generation(0)];
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
      const globs = Array.isArray(r) && r.every((g) => typeof g === 'string') ? (r as string[]) : null;
      if (globs !== null && typeof x.project === 'string' && typeof x.holder === 'string') {
        for (const g of globs) {
          // A malformed glob matches nothing (digestLines makes no line of it).
          const glob = pathGlob(g);
          if (glob !== null) this.taken(glob.literal ? 'onFile' : 'underFolder', x.project, glob.literal ? glob.prefix : folderOf(glob.prefix), e.id, x.holder);
        }
        return;
      }
      this.acquired.push({ id: e.id, holder: x.holder, project: x.project, starts: globs === null ? null : globs.map(plainStart) });
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
    for (const g of this.gens) {
      const files = g.onFile.get(me.project);
      const folders = g.underFolder.get(me.project);
      for (const p of edited) {
        if (files !== undefined && newer(files.get(p), me.id, since)) return true;
        if (folders === undefined) continue;
        // The folders it is in, from the top: '', 'src/', 'src/api/', …
        for (let end = 0; ; ) {
          if (newer(folders.get(p.slice(0, end)), me.id, since)) return true;
          const slash = p.indexOf('/', end);
          if (slash < 0) break;
          end = slash + 1;
        }
      }
    }
    for (let i = firstAfter(this.acquired, since); i < this.acquired.length; i++) {
      const a = this.acquired[i]!;
      if (a.holder === me.id || (typeof a.project === 'string' && a.project !== me.project)) continue;
      if (a.starts === null) return true;
      for (const s of a.starts) for (const p of edited) if (p.startsWith(s)) return true;
    }
    return false;
  }

  /**
   * A lease on a file or folder, into the newer generation. A full one becomes the older, the
   * older dropped: what it knew was of the leases taken before the newer began (a later one of
   * the same path is in the newer), so marks from then on are still told apart.
   */
  private taken(kind: 'onFile' | 'underFolder', project: string, path: string, id: number, holder: string): void {
    let g = this.gens[0];
    let paths = g[kind].get(project);
    const f = paths?.get(path);
    if (f === undefined) {
      if (g.size >= HOOK_NEWS_TAIL) {
        this.floor = Math.max(this.floor, g.from - 1);
        this.gens = [generation(id), g];
        g = this.gens[0];
        paths = undefined;
      }
      if (paths === undefined) g[kind].set(project, (paths = new Map()));
      paths.set(path, { id, holder, other: 0 });
      g.size++;
    } else {
      if (f.holder !== holder) f.other = f.id;
      f.id = id;
      f.holder = holder;
    }
  }

  /** Every map forgotten whole: what they said of the events up to `id` is lost. */
  private forget(id: number): void {
    this.named.clear();
    this.ready.clear();
    this.released.clear();
    this.gens = [generation(id), generation(id)];
    this.floor = Math.max(this.floor, id);
  }

  private set(m: Map<string, number>, key: string, id: number): void {
    if (m.size >= HOOK_SESSIONS_REMEMBERED && !m.has(key)) this.forget(id);
    m.set(key, id);
  }
}

/** A lease taken after `since` by someone other than `me`. */
const newer = (t: Taken | undefined, me: string, since: number): boolean => t !== undefined && (t.holder === me ? t.other : t.id) > since;

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
