import { globsOverlap, pathGlob } from './path-glob.js';
import { firstAfter } from './sorted.js';

/**
 * Path globs held by someone, each with what to say of it, asked "does anything here overlap this
 * glob?" without comparing it to them all (a claim tests hundreds of blocked tasks
 * against thousands of leases). Two globs can only overlap when one's literal prefix starts the
 * other's, so only those entries are compared: the ones at each prefix of the asked glob's
 * literal prefix (a map lookup per length), and the ones under it (a range of the sorted prefixes).
 */
export class GlobSet<T> {
  private readonly byPrefix = new Map<string, Array<{ glob: string; label: T }>>();
  private sorted: string[] | null = [];

  /** Adds `glob` (a valid path glob; an invalid one is ignored: it holds nothing). */
  add(glob: string, label: T): void {
    const g = pathGlob(glob);
    if (g === null) return;
    const list = this.byPrefix.get(g.prefix);
    if (list) list.push({ glob, label });
    else {
      this.byPrefix.set(g.prefix, [{ glob, label }]);
      this.sorted = null;
    }
  }

  /** The first entry (in the order added, per prefix) whose glob overlaps `glob`, if any. */
  overlapping(glob: string): { glob: string; label: T } | undefined {
    const g = pathGlob(glob);
    if (g === null || this.byPrefix.size === 0) return undefined;
    const p = g.prefix;
    // Entries whose prefix starts p (p's own included).
    for (let n = 0; n <= p.length; n++) {
      const hit = this.first(this.byPrefix.get(p.slice(0, n)), glob);
      if (hit) return hit;
    }
    // Entries whose prefix extends p.
    const keys = (this.sorted ??= [...this.byPrefix.keys()].sort());
    for (let i = firstAfter(keys, p); i < keys.length && keys[i]!.startsWith(p); i++) {
      const hit = this.first(this.byPrefix.get(keys[i]!), glob);
      if (hit) return hit;
    }
    return undefined;
  }

  private first(list: Array<{ glob: string; label: T }> | undefined, glob: string): { glob: string; label: T } | undefined {
    if (list === undefined) return undefined;
    for (const e of list) if (globsOverlap(glob, e.glob)) return e;
    return undefined;
  }
}
