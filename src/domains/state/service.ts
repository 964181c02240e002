import type { AuditTag, IdemTag, ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { compareHolds, currentOf, type TxnCurrent } from '../../../schemas/rpc/writer-txn.js';
import { fail } from '../../errors.js';
import type { PoolClient } from '../../rpc/pool-client.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { dataNow, toRfc3339 } from '../../../schemas/db/time.js';
import type { Awaitable } from '../../shared/awaitable.js';
import { StateCache, cachedValue, type CachedValue } from './cache.js';
import type { StateReader, StateRow } from './reader.js';
import type { StatePutReply } from '../../../schemas/http/state.js';
import { pending, then } from '../../shared/awaitable.js';
import { defined } from '../../shared/defined.js';

export interface PutInput {
  key: string;
  value: Uint8Array;
  contentType: string;
  updatedBy: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  /** Expires this long after the write, ms. */
  ttlMs?: number;
  /** Bound to this agent instance: deleted when it deregisters or goes stale. */
  owner?: string;
  /** X-Koor-Fence: the writer's fencing token. */
  fence?: number;
}

/** Whether `items` name the keys `keys` does, in its order. */
function sameKeys(keys: readonly string[], items: ReadonlyArray<{ key: string }>): boolean {
  if (keys.length !== items.length) return false;
  for (let i = 0; i < keys.length; i++) if (keys[i] !== items[i]!.key) return false;
  return true;
}

/**
 * The gates of a transaction (see StateService.txnGates): `key NUL version` of each compare by
 * version whose key the success branch puts or deletes.
 */
function gatesOf(req: ReqOf<WriterMethods, 'state.txn'>): string[] {
  const gates: string[] = [];
  for (const c of req.compare) {
    if (c.version === undefined) continue;
    if (req.success.some((op) => (op.op === 'put' || op.op === 'delete') && op.key === c.key)) gates.push(`${c.key}\u0000${c.version}`);
  }
  return gates;
}

/** State store rules: reads from cache / read connection, writes through the writer RPC. */
export class StateService {
  readonly cache: StateCache;

  constructor(
    private readonly reader: StateReader,
    private readonly writer: WriterClient,
    private readonly pool: PoolClient,
    cacheBytes: number,
    /** Other processes write to the database too (cluster mode): no value is kept across requests. */
    othersWrite = false,
  ) {
    this.cache = new StateCache(othersWrite ? 0 : cacheBytes);
    writer.onUncertain(() => this.cache.clear());
  }

  /**
   * Current value, from the cache or the reader (which then fills the cache): at once on a hit
   * and on SQLite, a promise on PostgreSQL.
   */
  current(key: string): Awaitable<CachedValue | undefined> {
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.expiresAt === 0 || hit.expiresAt > dataNow()) return hit;
      this.cache.delete(key);
      return undefined;
    }
    const row = this.reader.current(key);
    return then(row, (r) => this.fill(key, r));
  }

  private fill(key: string, row: StateRow | undefined): CachedValue | undefined {
    // Past its TTL and not yet swept: absent.
    if (!row || (row.expires_at > 0 && row.expires_at <= dataNow())) return undefined;
    // An ephemeral key goes when its agent does, in a writer step no reply of this front's tells of: never cached.
    if (row.owner) return cachedValue(row.value, row.version, row.hash, row.content_type, row.revision, row.expires_at);
    return this.cache.fill(key, row.value, row.version, row.hash, row.content_type, row.revision, row.expires_at);
  }

  /**
   * One page of keys after `after` (under `prefix`) as JSON text; `next` = the key to continue
   * after, or null; `revision` = the newest revision read before the page (a watch from it
   * misses nothing the page does not show).
   */
  async listPage(after: string, limit: number, prefix = ''): Promise<{ json: string; next: string | null; revision: number }> {
    const revision = await this.reader.newestRevision();
    return { ...(await this.reader.listPage(after, limit, prefix)), revision };
  }

  async count(): Promise<number> {
    return this.reader.count();
  }

  async history(key: string, limit: number) {
    return (await this.reader.history(key, limit)).map((r) => ({ ...r, updated_at: toRfc3339(r.updated_at) }));
  }

  async atVersion(key: string, version: number) {
    return this.reader.atVersion(key, version);
  }

  /** The diff reply as JSON text. */
  async diff(key: string, v1: number, v2: number): Promise<string> {
    const a = await this.reader.atVersion(key, v1);
    if (!a) throw fail('DIFF_VERSION_NOT_FOUND', v1, key);
    const b = await this.reader.atVersion(key, v2);
    if (!b) throw fail('DIFF_VERSION_NOT_FOUND', v2, key);
    const r = await this.pool.run('diff', { a: a.value, b: b.value, v1, v2 });
    if (!r.ok) throw fail('DIFF_FAILED', r.error);
    // Spliced as text: the pool kept numbers exactly as stored.
    return `{"key":${JSON.stringify(key)},"v1":${v1},"v2":${v2},"diffs":${r.diffs}}`;
  }

  /**
   * The request and the reply are plain literals, the optional parts added only when present:
   * the spreads they were built with (five `...(x ? {…} : {})`, a rest and a spread of the reply)
   * were a seventh of what the front allocated per PUT.
   */
  async put(input: PutInput, audit?: AuditTag) {
    const req: ReqOf<WriterMethods, 'state.put'> = { key: input.key, value: input.value, content_type: input.contentType, updated_by: input.updatedBy };
    if (input.ifMatch) req.if_match = input.ifMatch;
    if (input.ifNoneMatch) req.if_none_match = input.ifNoneMatch;
    if (input.ttlMs) req.ttl_ms = input.ttlMs;
    if (input.owner) req.owner = input.owner;
    if (input.fence !== undefined) req.fence = input.fence;
    const res = await this.writer.call('state.put', req, { audit });
    // The writer's expiry, not one reckoned here after its reply (later): a read is never served past it.
    if (input.owner) this.cache.delete(input.key, res.revision);
    else this.cache.set(input.key, input.value, res.version, res.hash, res.content_type, res.revision, res.expires_at ?? 0);
    this.onChange?.();
    const reply: StatePutReply = { key: res.key, version: res.version, hash: res.hash, content_type: res.content_type, updated_at: toRfc3339(res.updated_at), revision: res.revision };
    if (res.expires_at !== undefined) reply.expires_at = new Date(res.expires_at).toISOString();
    return reply;
  }

  async delete(key: string, ifMatch?: string, audit?: AuditTag, by = '', fence?: number) {
    let res;
    try {
      res = await this.writer.call(
        'state.delete',
        { key, ...(ifMatch ? { if_match: ifMatch } : {}), ...(by ? { updated_by: by } : {}), ...defined({ fence }) },
        { audit },
      );
    } catch (e) {
      this.cache.delete(key);
      throw e;
    }
    this.cache.delete(key, res.revision);
    this.onChange?.();
    return { deleted: key, revision: res.revision };
  }

  async rollback(key: string, version: number, audit?: AuditTag, fence?: number) {
    const res = await this.writer.call('state.rollback', { key, version, ...defined({ fence }) }, { audit });
    this.cache.set(key, res.value, res.version, res.hash, res.content_type, res.revision);
    this.onChange?.();
    return { key, version: res.version, hash: res.hash, rolled_back: res.rolled_back, updated_at: toRfc3339(res.updated_at), revision: res.revision };
  }

  /**
   * A transaction (POST /api/txn): the writer runs it whole; the cache then takes its puts and
   * forgets its deletes (an expired key a compare or get swept is gone from it too: it reads as absent anyway).
   * `idem`: a retry under an Idempotency-Key gets the first result, `replayed`; the cache and the
   * watchers were told of it with the first write (or dropped it, if its reply was lost).
   */
  async txn(req: ReqOf<WriterMethods, 'state.txn'>, audit?: AuditTag, idem: IdemTag | null = null) {
    let gates: string[] | null = null;
    if (idem === null && req.compare.length > 0 && req.failure.every((op) => op.op === 'get')) {
      // Bounded: each turn waits for a transaction in flight on the same key and version, which ends (or its deadline does).
      for (;;) {
        const decided = this.lostCompare(req);
        const lost = pending(decided) ? await decided : decided;
        if (lost) return { res: lost, replayed: false };
        // Named only for a transaction that may win (most of a contended key's lose above).
        gates ??= gatesOf(req);
        const busy = gates.find((g) => this.txnGates.has(g));
        if (busy === undefined) break;
        await new Promise<void>((resolve) => this.txnGates.get(busy)!.push(resolve));
      }
      // No await from the check above to here: the next one with these gates waits for this one.
      for (const g of gates) if (!this.txnGates.has(g)) this.txnGates.set(g, []);
    }
    let out;
    try {
      // One that may win goes to the writer at once: the others of its key this turn wait for it.
      const urgent = gates !== null && gates.length > 0;
      out = await this.writer.callIdempotent('state.txn', req, idem, audit || urgent ? { audit, urgent } : undefined);
    } finally {
      if (gates !== null) {
        for (const g of gates) {
          const waiting = this.txnGates.get(g);
          this.txnGates.delete(g);
          for (const wake of waiting ?? []) wake();
        }
      }
    }
    const { res, replayed } = out;
    if (replayed) return { res, replayed };
    const ops = res.succeeded ? req.success : req.failure;
    res.results.forEach((r, i) => {
      const op = ops[i]!;
      if (op.op === 'put' && r.version !== undefined) this.cache.set(op.key, op.value, r.version, r.hash!, op.content_type, r.revision ?? 0, r.expires_at ?? 0);
      else if (op.op === 'delete') this.cache.delete(op.key, r.revision ?? 0);
    });
    if (res.results.some((r) => r.revision !== undefined)) this.onChange?.();
    return { res, replayed };
  }

  /**
   * Transactions in flight to the writer that put or delete a key they compared by version, by
   * `gate` (key and version): each with the transactions waiting for its outcome. While one is in
   * flight, another with the same gate cannot win (the key moves past that version if the first
   * wins, and is not at it if the first loses): it waits, then is decided again against what is
   * committed — usually lost, and answered at once (16 clients incrementing one counter
   * made batches of 16 transactions of which one could win, each batch one commit; now a batch
   * carries the one that can win).
   */
  private readonly txnGates = new Map<string, Array<() => void>>();

  /**
   * A transaction whose compare fails against what is committed now, and whose failure branch
   * only reads, is answered here, as a GET would be (the cache, the reader on a miss), without a
   * trip through the writer: it would have written nothing, yet waited for a batch and its commit
   * (16 clients contending on one counter spent most of their time, and the writer most
   * of its batches, on such losers). A GET sees every acknowledged write and every version a
   * client can have learnt; the decision is the transaction's at this instant, as a GET now would
   * see the keys.
   * A compare that holds here is decided again by the writer, inside its transaction. Null: go to
   * the writer (a compare held, or the failure branch writes or publishes).
   */
  private lostCompare(req: ReqOf<WriterMethods, 'state.txn'>): Awaitable<ResOf<WriterMethods, 'state.txn'> | null> {
    type Get = Extract<(typeof req.failure)[number], { op: 'get' }>;
    if (req.compare.length === 0 || !req.failure.every((op): op is Get => op.op === 'get')) return null;
    const gets = req.failure as Get[];
    // The usual case, a compare that holds as far as this node knows: no read (the writer decides it anyway).
    if (req.compare.every((c) => c.version !== undefined && c.hash === undefined && c.exists === undefined && this.cache.get(c.key)?.version === c.version)) return null;
    // Each key as a GET now sees it: the cache (which the write that beat this one has just
    // filled), the reader on a miss. 16 clients on one counter spent a tenth of the server's CPU
    // reading it back from SQLite here. Synchronous when every key is cached or on SQLite: a
    // loser of a contended counter is answered without a turn of the microtask queue per key.
    // Each key read once, in a loop (no Set, key arrays or closures per key: a loser of a
    // contended counter is answered here by the thousand per second).
    const rows = new Map<string, CachedValue | undefined>();
    const read = (items: ReadonlyArray<{ key: string }>): Awaitable<void> => {
      let waits: Array<Promise<void>> | null = null;
      for (const { key } of items) {
        if (rows.has(key)) continue;
        const got = this.current(key);
        if (!pending(got)) {
          rows.set(key, got);
          continue;
        }
        rows.set(key, undefined);
        (waits ??= []).push(got.then((v) => void rows.set(key, v)));
      }
      return waits === null ? undefined : Promise.all(waits).then(() => undefined);
    };
    return then(read(req.compare), () => {
      if (req.compare.every((c) => compareHolds(c, rows.get(c.key)))) return null;
      return then(read(gets), () => then(this.newestRevision(rows.values()), (revision) => this.lostReply(req.compare, gets, rows, revision)));
    });
  }

  /**
   * A lost compare's reply, made of the keys' values as read and the newest revision: the last
   * one again (the same object) when it was made of the same keys, the same cached entries and
   * the same revision. 16 clients on one counter lose 15 compares a commit, all answered alike;
   * the route keeps the last reply's bytes for the same object (a loser answered alike
   * cost ~8 % less server CPU). The entries are compared, not only the revision: a key past its
   * TTL reads as absent before the sweep's delete moves the revision. A reply is never changed
   * once made, so handing one object to several requests is safe.
   */
  private lostReply(compare: ReadonlyArray<{ key: string }>, gets: ReadonlyArray<{ key: string }>, rows: Map<string, CachedValue | undefined>, revision: number): ResOf<WriterMethods, 'state.txn'> {
    const last = this.lastLoss;
    if (last !== null && last.revision === revision && sameKeys(last.compare, compare) && sameKeys(last.gets, gets) && last.rows.every(([k, v]) => rows.get(k) === v)) return last.res;
    const results: ResOf<WriterMethods, 'state.txn'>['results'] = gets.map((op) => {
      const cur = rows.get(op.key);
      return cur ? { op: 'get', key: op.key, found: true, version: cur.version, hash: cur.hash, value: cur.value, content_type: cur.contentType } : { op: 'get', key: op.key, found: false };
    });
    const current: TxnCurrent[] = [];
    for (const c of compare) if (!current.some((x) => x.key === c.key)) current.push(currentOf(c.key, rows.get(c.key)));
    const res = { succeeded: false, revision, results, events: [], current };
    this.lastLoss = { compare: compare.map((c) => c.key), gets: gets.map((g) => g.key), rows: [...rows], revision, res };
    return res;
  }

  /** What the last lost compare's reply was made of (lostReply). */
  private lastLoss: { compare: string[]; gets: string[]; rows: Array<[string, CachedValue | undefined]>; revision: number; res: ResOf<WriterMethods, 'state.txn'> } | null = null;

  /**
   * The store's newest revision for a reply that also shows `rows`. On SQLite the writer keeps it
   * in shared memory (published after each COMMIT, before its replies: 16 clients
   * on one counter spent a tenth of the server's CPU reading it for each lost compare); a row
   * the reader saw committed before the writer published its batch raises it to that row's.
   * Unpublished (-1) on PostgreSQL, where other nodes commit too, or when the writer could not
   * read it at its start: read from the database.
   */
  private newestRevision(rows: Iterable<CachedValue | undefined>): Awaitable<number> {
    const published = this.writer.batches.committedRevision;
    if (published < 0) return this.reader.newestRevision();
    let n = published;
    for (const r of rows) if (r && r.revision > n) n = r.revision;
    return n;
  }

  /** Told after each write this node committed (the watch feed looks at once). */
  onChange: (() => void) | null = null;
}
