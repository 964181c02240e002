import type { AuditTag } from '../../../schemas/rpc/envelope.js';
import { fail } from '../../errors.js';
import type { PoolClient } from '../../rpc/pool-client.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339, type Awaitable } from '../../store.js';
import { StateCache, type CachedValue } from './cache.js';
import type { StateReader, StateRow } from './reader.js';
import { then } from '../../backend/awaitable.js';

export interface PutInput {
  key: string;
  value: Uint8Array;
  contentType: string;
  updatedBy: string;
  ifMatch?: string;
  ifNoneMatch?: string;
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
    if (hit) return hit;
    const row = this.reader.current(key);
    return then(row, (r) => this.fill(key, r));
  }

  private fill(key: string, row: StateRow | undefined): CachedValue | undefined {
    return row ? this.cache.set(key, row.value, row.version, row.hash, row.content_type) : undefined;
  }

  /** One page of keys after `after` as JSON text; `next` = the key to continue after, or null. */
  async listPage(after: string, limit: number): Promise<{ json: string; next: string | null }> {
    return this.reader.listPage(after, limit);
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

  async put(input: PutInput, audit?: AuditTag) {
    const res = await this.writer.call('state.put', {
      key: input.key,
      value: input.value,
      content_type: input.contentType,
      updated_by: input.updatedBy,
      ...(input.ifMatch ? { if_match: input.ifMatch } : {}),
      ...(input.ifNoneMatch ? { if_none_match: input.ifNoneMatch } : {}),
    }, { audit });
    this.cache.set(input.key, input.value, res.version, res.hash, res.content_type);
    return { ...res, updated_at: toRfc3339(res.updated_at) };
  }

  async delete(key: string, ifMatch?: string, audit?: AuditTag) {
    try {
      await this.writer.call('state.delete', { key, ...(ifMatch ? { if_match: ifMatch } : {}) }, { audit });
    } finally {
      this.cache.delete(key);
    }
    return { deleted: key };
  }

  async rollback(key: string, version: number, audit?: AuditTag) {
    const res = await this.writer.call('state.rollback', { key, version }, { audit });
    this.cache.set(key, res.value, res.version, res.hash, res.content_type);
    return { key, version: res.version, hash: res.hash, rolled_back: res.rolled_back, updated_at: toRfc3339(res.updated_at) };
  }
}
