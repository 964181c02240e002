import type { SyncTx } from '../sql.js';
import { only } from '../sql.js';
import { firstAfter } from '../../../src/shared/sorted.js';

const ALL_KEYS = only('sqlite', 'SELECT DISTINCT prefix FROM lease_resources');

/**
 * The keys of SQLite's lease index (lease_resources.prefix), kept in the writer's memory so that
 * a lease's conflict check skips the index's seeks (one statement each, three to seven for a new
 * file; with the range read under its key, half the statements of an edit that takes a lease)
 * when no key is a prefix of its path or under it, the common case. SQLite's writer is the only
 * one that inserts there.
 *
 * A superset, trusted only for absence: a key is added at each insert and never removed, so a
 * rolled-back insert or an ended lease leaves a stale key, which costs only the read the check
 * would have made anyway. Loaded on first use (after migrations, after a restore: a restore
 * restarts the server); loaded again once stale keys may outnumber the live ones (`bound`).
 * Keys are held as latin1 strings of their bytes, which JavaScript compares as SQLite's BLOB
 * compares the bytes: in a set (is this prefix a key?) and in order, in runs of at most 2 × `run`
 * (the key after a given one: a sorted array took 10–20 µs an insert at 15,000 keys).
 */
export class LeaseKeys {
  private set: Set<string> | null = null;
  /** The keys in order, cut into runs; `heads[i]` is `runs[i][0]`. */
  private runs: string[][] = [];
  private heads: string[] = [];
  /** `lengths[n]`: some key is n bytes long (only those lengths of a path's prefixes are looked up). */
  private lengths: boolean[] = [];
  private bound = 0;

  /** `floor`: stale keys allowed past the live ones; `run`: keys per run of the ordered copy (an insert moves at most twice this many). */
  constructor(
    private readonly floor = 1024,
    private readonly run = 512,
  ) {}

  /** The keys that are byte prefixes of `key` at least `from` bytes long. */
  prefixesOf(tx: SyncTx, key: Buffer, from: number): Buffer[] {
    const set = this.loaded(tx);
    const s = key.toString('latin1');
    const found: Buffer[] = [];
    for (let n = from; n <= s.length; n++) if (this.lengths[n] === true && set.has(s.slice(0, n))) found.push(key.subarray(0, n));
    return found;
  }

  /** Whether some key extends `key` (starts with it and is longer). */
  anyUnder(tx: SyncTx, key: Buffer): boolean {
    this.loaded(tx);
    const s = key.toString('latin1');
    const r = this.runOf(s);
    const run = this.runs[r];
    if (run === undefined) return false;
    const i = firstAfter(run, s);
    const next = i < run.length ? run[i] : this.heads[r + 1];
    return next !== undefined && next.startsWith(s);
  }

  /** A key the writer is inserting. */
  add(key: Buffer): void {
    const set = this.set;
    if (set === null) return;
    const s = key.toString('latin1');
    if (set.has(s)) return;
    if (set.size >= this.bound) {
      this.set = null;
      return;
    }
    set.add(s);
    this.lengths[s.length] = true;
    const r = this.runOf(s);
    const run = this.runs[r];
    if (run === undefined) {
      this.runs.push([s]);
      this.heads.push(s);
      return;
    }
    run.splice(firstAfter(run, s), 0, s);
    this.heads[r] = run[0]!;
    if (run.length > 2 * this.run) {
      this.runs.splice(r + 1, 0, run.splice(this.run));
      this.heads.splice(r + 1, 0, this.runs[r + 1]![0]!);
    }
  }

  /** The run `s` belongs in: the last whose head is at most `s` (the first when none is). */
  private runOf(s: string): number {
    return Math.max(0, firstAfter(this.heads, s) - 1);
  }

  private loaded(tx: SyncTx): Set<string> {
    if (this.set !== null) return this.set;
    const keys = tx
      .all<{ prefix: Buffer }>(ALL_KEYS)
      .map((r) => r.prefix.toString('latin1'))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.runs = [];
    for (let i = 0; i < keys.length; i += this.run) this.runs.push(keys.slice(i, i + this.run));
    this.heads = this.runs.map((run) => run[0]!);
    this.lengths = [];
    for (const k of keys) this.lengths[k.length] = true;
    this.bound = 2 * keys.length + this.floor;
    this.set = new Set(keys);
    return this.set;
  }
}
