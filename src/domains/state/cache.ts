import { STATE_CACHE_ENTRY_OVERHEAD_BYTES } from '../../shared/limits.js';
import { CACHE_DOORKEEPER_SLOTS, CACHE_TOMBSTONES_MAX } from '../../shared/limits-features.js';

/** One cached current value, with its response headers precomputed. */
export interface CachedValue {
  value: Uint8Array;
  version: number;
  hash: string;
  contentType: string;
  /** `"<hash>"` */
  etag: string;
  versionText: string;
  /** The store-wide revision of its write: the cache never takes an older one's place. */
  revision: number;
  /** The same, as header text. */
  revisionText: string;
  /** Epoch ms it expires at, 0 = never: past it, the entry is absent (a read after expiry is 404 before the sweep). */
  expiresAt: number;
  /** The cache's own: read since eviction last passed it (its second chance). */
  used: boolean;
}

const DOORKEEPER_SHIFT = 32 - Math.log2(CACHE_DOORKEEPER_SLOTS);

/** What an entry counts against the budget, bytes. */
const entrySize = (key: string, value: Uint8Array): number => value.byteLength + key.length + STATE_CACHE_ENTRY_OVERHEAD_BYTES;

export function cachedValue(value: Uint8Array, version: number, hash: string, contentType: string, revision: number, expiresAt: number): CachedValue {
  return { value, version, hash, contentType, etag: `"${hash}"`, versionText: String(version), revision, revisionText: String(revision), expiresAt, used: false };
}

/**
 * Current state values bounded in bytes, least recently used out first, approximately (CLOCK, or
 * second chance): a hit only marks its entry; eviction walks the entries in insertion order and
 * moves a marked one to the end, unmarked, instead of evicting it. Moving the entry on every hit
 * (exact LRU) cost a Map delete and insert per read, and with a large cache the Map's table was
 * rebuilt every few thousand reads (~1.7 MB at 54k entries, promoted by the next
 * scavenge). Kept coherent by the writer's replies (the only writer is behind this process); cleared
 * whenever a write's outcome is uncertain.
 */
export class StateCache {
  private readonly map = new Map<string, CachedValue>();
  private bytes = 0;
  /**
   * Where eviction goes on from: a live iterator over the map (the clock's hand), left where the
   * last eviction stopped. Everything before it was deleted or moved to the end, so its next entry
   * is the oldest not looked at since. A fresh `map.keys()` per eviction would walk every deleted
   * slot V8 keeps at the front of the table until it compacts: with a key set larger than the
   * budget that was ~60 µs per miss at 100k keys.
   */
  private evictFrom: IterableIterator<string> | null = null;
  /** The doorkeeper: a hash of the key that last missed, per slot (0 = none). */
  private readonly missed = new Int32Array(CACHE_DOORKEEPER_SLOTS);
  readonly stats = { hits: 0, misses: 0 };
  /** Keys deleted lately: key → its delete's revision (insertion order: the oldest first out). */
  private readonly tombstones = new Map<string, number>();

  constructor(
    private readonly budgetBytes: number,
    /** Values larger than this are never cached, bytes. */
    private readonly maxEntryBytes = Math.floor(budgetBytes / 8),
  ) {}

  get(key: string): CachedValue | undefined {
    const v = this.map.get(key);
    if (v === undefined) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    v.used = true;
    return v;
  }

  /**
   * A committed write's value. Writes' replies may be applied out of their commit order (one
   * writer batch answers a transaction and a PUT of the same key together, and their callers
   * resume in different turns): one older than the entry's, or than the key's delete, is not
   * cached — it would serve a value an acknowledged write replaced. Returns what the cache holds
   * for the key now (the newer entry), or the value uncached.
   */
  set(key: string, value: Uint8Array, version: number, hash: string, contentType: string, revision: number, expiresAt = 0): CachedValue {
    const entry = cachedValue(value, version, hash, contentType, revision, expiresAt);
    const old = this.map.get(key);
    if (old !== undefined && old.revision > revision) return old;
    if (this.tombstones.size > 0 && this.stale(key, revision)) return entry;
    if (old !== undefined) {
      const size = entrySize(key, value);
      if (size <= this.maxEntryBytes && size <= this.budgetBytes) {
        // A key written again keeps its place, marked as a read marks it (the hand moves it to
        // the end when it passes): one Map write instead of a delete and an insert per write,
        // and no deleted slot left in the table for V8 to compact away.
        entry.used = true;
        this.map.set(key, entry);
        this.bytes += size - entrySize(key, old.value);
        while (this.bytes > this.budgetBytes && this.evictOldest());
        return entry;
      }
      this.delete(key);
    }
    this.insert(key, entry);
    return entry;
  }

  /**
   * A value read from the database after a miss. While the cache has room it goes in, as `set`.
   * Once it is full, only a key that missed shortly before is let in (evicting as `evictOldest`
   * says): when reads range over more keys than fit, admitting a miss only swaps one cold entry
   * for another at the cost of an insertion, an eviction, a promoted value and a slot of the map
   * to rebuild, for the same hit ratio (~9 µs of a ~35 µs miss at 100k keys). A key read
   * again and again gets in at its second miss; one read once never does (admitting
   * one miss in eight at random let a hot key in after eight misses on average, and at 100k keys
   * admitted ~3,000 values a second that the old generation then had to collect). Writes (`set`)
   * always refresh their entry.
   */
  fill(key: string, value: Uint8Array, version: number, hash: string, contentType: string, revision: number, expiresAt = 0): CachedValue {
    if (this.bytes + entrySize(key, value) > this.budgetBytes && !this.missedBefore(key)) return cachedValue(value, version, hash, contentType, revision, expiresAt);
    return this.set(key, value, version, hash, contentType, revision, expiresAt);
  }

  /**
   * Whether `key` is the last miss its doorkeeper slot remembers (then forgotten); otherwise it
   * is remembered in place of that one. With reads spread evenly over N keys not cached, about
   * CACHE_DOORKEEPER_SLOTS / (N + CACHE_DOORKEEPER_SLOTS) of the misses get in (~2 % at 100k keys); a key
   * whose share of the misses is well over 1 / CACHE_DOORKEEPER_SLOTS, at its second. FNV-1a of the
   * key's UTF-16 units: no allocation, ~1 ns a character.
   */
  private missedBefore(key: string): boolean {
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    h |= 1; // never 0, an empty slot
    const slot = h >>> DOORKEEPER_SHIFT;
    if (this.missed[slot] === h) {
      this.missed[slot] = 0;
      return true;
    }
    this.missed[slot] = h;
    return false;
  }

  private insert(key: string, entry: CachedValue): void {
    const size = entrySize(key, entry.value);
    if (size > this.maxEntryBytes || size > this.budgetBytes) return;
    // Room first, then the entry: the read ones the hand moves to the end go before it, so a
    // new entry is never the next to go (it would be, with every other entry read).
    while (this.bytes + size > this.budgetBytes && this.evictOldest());
    this.map.set(key, entry);
    this.bytes += size;
  }

  /**
   * Deletes the oldest entry not read since the hand last passed it, moving the read ones it
   * passes to the end unmarked; false when the map is empty. Each entry is passed marked at most
   * once per call, so it ends within two rounds.
   */
  private evictOldest(): boolean {
    for (let steps = 0, fresh = 0; fresh < 2 && steps <= 2 * this.map.size + 1; ) {
      this.evictFrom ??= this.map.keys();
      const next = this.evictFrom.next();
      if (next.done) {
        this.evictFrom = null; // an exhausted iterator never sees later insertions: start again
        fresh++;
        continue;
      }
      steps++;
      const key = next.value;
      const entry = this.map.get(key)!;
      if (entry.used) {
        entry.used = false;
        this.map.delete(key);
        this.map.set(key, entry); // the live iterator reaches it again after the others
        continue;
      }
      this.delete(key);
      return true;
    }
    return false;
  }

  /**
   * Forgets `key`; `revision`: its committed delete's, so a write's value older than it is not
   * cached afterwards (see set).
   */
  delete(key: string, revision = 0): void {
    if (revision > 0) {
      this.tombstones.delete(key);
      this.tombstones.set(key, revision);
      if (this.tombstones.size > CACHE_TOMBSTONES_MAX) this.tombstones.delete(this.tombstones.keys().next().value!);
    }
    const old = this.map.get(key);
    if (old === undefined) return;
    this.map.delete(key);
    this.bytes -= entrySize(key, old.value);
  }

  /** Whether a write of `key` at `revision` came before the key's latest delete seen here (a newer one ends the tombstone). */
  private stale(key: string, revision: number): boolean {
    const gone = this.tombstones.get(key);
    if (gone === undefined) return false;
    if (revision > gone) {
      this.tombstones.delete(key);
      return false;
    }
    return true;
  }

  clear(): void {
    this.map.clear();
    this.missed.fill(0);
    this.evictFrom = null;
    this.bytes = 0;
  }

  get size(): number {
    return this.map.size;
  }

  get usedBytes(): number {
    return this.bytes;
  }
}
