import type { AuditTag, IdemTag } from '../../../schemas/rpc/envelope.js';
import { tokenHash } from '../../../schemas/db/tables/tokens.js';
import { INSTANCE, type InstanceCreate } from '../../../schemas/db/tables/instances.js';
import type { InstanceSummary } from '../../../schemas/http/instances.js';
import { AGENT, type Identity, type Resolved } from '../../identity.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toStorage } from '../../../schemas/db/time.js';
import type { Awaitable } from '../../shared/awaitable.js';
import { fail } from '../../errors.js';
import { IDENTITY_MISSES_MAX, IDENTITY_TOUCH_INTERVAL_MS, TOKEN_CONFIRM_MS } from '../../shared/limits.js';
import { checkFields } from './fields.js';
import { headerTokenHash } from '../../token-hash.js';
import type { InstanceFilter, InstanceReader, TokenRow } from './reader.js';
import { then } from '../../shared/awaitable.js';
import { addBounded } from '../../shared/bounded.js';
import { STALE_SESSION_CHUNK, STALE_SESSION_TURNS } from '../../shared/limits-features.js';

export type { InstanceFilter } from './reader.js';

/** An agent's token as the identity index knows it, and when the database last said so. */
interface Known {
  readonly resolved: Resolved;
  /** Date.now() when the lookup that found it was sent (cluster mode: confirmed again after TOKEN_CONFIRM_MS). */
  at: number;
}

/**
 * Agent instances: registry over the writer, reads from the reader, and the identity index used
 * by auth: instance id → agent, SHA-256 of the instance token → agent (the database
 * keeps only that hash).
 *
 * Cluster mode (`othersWrite`): other nodes register and deregister agents too. A token or id
 * this node does not know is looked up in the database before the request is refused or left
 * unattributed: an agent registered on one node is known on every other at once. A deregistration
 * reaches every node's index by a PostgreSQL notification (forget()), and, so that a late or lost
 * notification cannot keep a dead token working, a token's entry older than TOKEN_CONFIRM_MS is
 * confirmed against the database before it is trusted again: a deregistered agent's token is
 * refused on every node within that bound. Unknown ones are remembered (bounded): tokens and ids
 * are random, one that was unknown does not turn up later. SQLite mode confirms nothing (this
 * node is the only writer: its index is the truth).
 */
export class InstanceService {
  private readonly forgetListeners: Array<(id: string) => void> = [];
  private readonly byId = new Map<string, Identity>();
  private readonly byToken = new Map<string, Known>();
  private readonly lastTouch = new Map<string, number>();
  private readonly misses = new Set<string>();
  /** Confirmations under way, by token hash: a busy token costs one query per TOKEN_CONFIRM_MS. */
  private readonly confirming = new Map<string, Promise<Resolved | null>>();
  private readonly confirmMs: number | null;

  constructor(
    private readonly reader: InstanceReader,
    private readonly writer: WriterClient,
    private readonly log: Logger,
    /** Fans out events the writer stored with an instance change (wired to the events domain). */
    private readonly othersWrite = false,
    /** How often an identified agent's last_seen is written (touchIntervalMs of the liveness timeout). */
    private readonly touchMs = IDENTITY_TOUCH_INTERVAL_MS,
  ) {
    this.confirmMs = othersWrite ? TOKEN_CONFIRM_MS : null;
    this.reload();
    // A register/deregister whose reply was lost may still have committed: trust the DB.
    writer.onUncertain(() => this.reload());
  }

  /**
   * refresh() whose failure is only logged (the database unreachable: the index stays as it was,
   * lookups of unknown identities still go to the database).
   */
  reload(): void {
    try {
      // Loaded at once (SQLite) or when the database answers (cluster mode).
      void Promise.resolve(this.refresh()).catch((err: unknown) => this.log.warn({ err }, 'loading the agent identity index failed'));
    } catch (err) {
      this.log.warn({ err }, 'loading the agent identity index failed');
    }
  }

  /** Rebuilds the identity index from the database. */
  refresh(): Awaitable<void> {
    const at = Date.now();
    const apply = (rows: TokenRow[]) => {
      this.byId.clear();
      this.byToken.clear();
      this.misses.clear();
      for (const r of rows) this.index(r, at);
    };
    const rows = this.reader.tokens();
    return then(rows, apply);
  }

  private index(r: { id: string; name: string; token_hash: string; token_id: string }, at = Date.now()): Resolved {
    const identity: Identity = r.token_id === '' ? { instanceId: r.id, name: r.name } : { instanceId: r.id, name: r.name, tokenId: r.token_id };
    const resolved: Resolved = { identity, principal: AGENT };
    this.byId.set(r.id, identity);
    this.byToken.set(r.token_hash, { resolved, at });
    return resolved;
  }

  /** An instance registered by another path of this node (a hook session's binding): known to the identity index at once. */
  remember(r: { id: string; name: string; token_hash: string; token_id: string }): void {
    this.index(r);
  }

  /** Another node deregistered this agent (cluster mode): its token and id stop working here too. */
  forget(id: string): void {
    this.unindex(id);
  }

  /** `fn` runs whenever an agent is deregistered (here, or on another node: forget) or its session pruned. */
  onForget(fn: (id: string) => void): void {
    this.forgetListeners.push(fn);
  }

  private unindex(id: string): void {
    for (const fn of this.forgetListeners) fn(id);
    this.byId.delete(id);
    this.lastTouch.delete(id);
    for (const [k, v] of this.byToken) if (v.resolved.identity!.instanceId === id) this.byToken.delete(k);
  }

  private missed(key: string): null {
    addBounded(this.misses, key, IDENTITY_MISSES_MAX);
    return null;
  }

  /** Looks an id miss up in the shared database (cluster mode); remembers what is not there. */
  private lookupId(key: string, find: () => Awaitable<TokenRow | undefined>): Awaitable<Identity | null> {
    if (!this.othersWrite || this.misses.has(key)) return null;
    return then(find(), (r) => (r ? this.index(r).identity : this.missed(key)));
  }

  /**
   * Asks the database about a token hash (cluster mode): an unknown one, or one last confirmed
   * more than TOKEN_CONFIRM_MS ago. Gone → forgotten here (and remembered as a miss).
   */
  private confirm(hash: string): Promise<Resolved | null> {
    const pending = this.confirming.get(hash);
    if (pending) return pending;
    const at = Date.now();
    const p = Promise.resolve(this.reader.byTokenHash(hash))
      .then((r) => {
        if (r) return this.index(r, at);
        const known = this.byToken.get(hash);
        if (known) this.unindex(known.resolved.identity!.instanceId);
        return this.missed(hash);
      })
      .finally(() => this.confirming.delete(hash));
    this.confirming.set(hash, p);
    return p;
  }

  /** Authorization header carrying an instance token → its agent (never after deregistration). */
  readonly resolveToken = (authorization: string): Awaitable<Resolved | null> => {
    if (!authorization.startsWith('Bearer ')) return null;
    const hash = headerTokenHash(authorization);
    const known = this.byToken.get(hash);
    if (this.confirmMs === null) return known ? known.resolved : null;
    if (known) return Date.now() - known.at < this.confirmMs ? known.resolved : this.confirm(hash);
    return this.misses.has(hash) ? null : this.confirm(hash);
  };

  /** X-Koor-Instance header → agent; unknown ids are not attributed. */
  readonly resolveInstance = (instanceId: string): Awaitable<Identity | null> => this.byId.get(instanceId) ?? this.lookupId(`id:${instanceId}`, () => this.reader.byId(instanceId));

  /** Refreshes an identified agent's last_seen (throttled, fire and forget). */
  seen(identity: Identity): void {
    const now = Date.now();
    if (now - (this.lastTouch.get(identity.instanceId) ?? 0) < this.touchMs) return;
    this.lastTouch.set(identity.instanceId, now);
    this.writer.call('instances.touch', { id: identity.instanceId, op: 'touch' }, { lazy: true }).catch((err: unknown) => this.log.debug({ err, id: identity.instanceId }, 'last_seen refresh failed'));
  }

  async list(f: InstanceFilter, limit?: number): Promise<InstanceSummary[]> {
    return (await this.reader.list(f, limit)).map((r) => INSTANCE.wire(INSTANCE.decode(r)));
  }

  async stale(): Promise<InstanceSummary[]> {
    return (await this.reader.stale()).map((r) => INSTANCE.wire(INSTANCE.decode(r)));
  }

  async get(id: string): Promise<InstanceSummary> {
    const r = await this.reader.get(id);
    if (!r) throw fail('INSTANCE_NOT_FOUND', id);
    return INSTANCE.wire(INSTANCE.decode(r));
  }

  count(): Awaitable<number> {
    return this.reader.count();
  }

  /**
   * `token_id`: the created token registering it, which may then act as it. `idem`: an idempotent retry gets the first registration's instance with a new token (its first
   * token's plain text is never stored with the key; the first one stops working) — `replayed`.
   */
  async register(input: InstanceCreate & { token_id?: string }, audit?: AuditTag, idem: IdemTag | null = null): Promise<{ instance: InstanceSummary & { token: string }; replayed: boolean }> {
    checkFields(input);
    const { res: row, replayed } = await this.writer.callIdempotent('instances.register', input, idem, audit ? { audit } : undefined);
    let token = row.token;
    if (replayed) {
      token = (await this.writer.call('instances.rekey', { id: row.id })).token;
      this.unindex(row.id);
    }
    this.index({ ...row, token_hash: tokenHash(token) });
    return { instance: { ...INSTANCE.wire(row), token }, replayed };
  }

  async touch(id: string, op: 'activate' | 'heartbeat', audit?: AuditTag): Promise<InstanceSummary> {
    return INSTANCE.wire(await this.writer.call('instances.touch', { id, op }, { audit }));
  }

  async update(id: string, change: { capabilities?: string[]; intent?: string }, audit?: AuditTag): Promise<InstanceSummary> {
    checkFields(change);
    return INSTANCE.wire(await this.writer.call('instances.update', { id, ...change }, { audit }));
  }

  /** Deletes the instance; what it held (leases, claimed tasks) is released in the same write. */
  async deregister(id: string, audit?: AuditTag): Promise<void> {
    await this.writer.call('instances.deregister', { id }, { audit });
    this.unindex(id);
  }

  /**
   * Marks active instances unseen since `cutoffMs` stale; returns them. The writer stores their
   * `agent.stale` events and releases what they held in the same transaction; those go out here.
   */
  async markStale(cutoffMs: number): Promise<InstanceSummary[]> {
    const cutoff = toStorage(cutoffMs);
    const r = await this.writer.call('instances.mark_stale', { cutoff });
    return r.stale.map(INSTANCE.wire);
  }

  /**
   * Ends the coding-agent sessions whose agent is stale and unseen since `cutoffMs` (their client
   * was killed without SessionEnd), as SessionEnd would: the agent deregistered, the binding
   * dropped. In bounded writer turns; how many ended.
   */
  async endStaleSessions(cutoffMs: number): Promise<number> {
    const before = toStorage(cutoffMs);
    let n = 0;
    for (let turn = 0; turn < STALE_SESSION_TURNS; turn++) {
      const r = await this.writer.call('hooks.prune_stale', { before, chunk: STALE_SESSION_CHUNK });
      for (const id of r.ended) this.unindex(id);
      n += r.ended.length;
      if (!r.more) break;
    }
    return n;
  }
}
