import type { AuditTag } from '../../../schemas/rpc/envelope.js';
import { createHash } from 'node:crypto';
import type { Event, Instance } from '../../../schemas/rpc/writer.js';
import type { Identity } from '../../http/context.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339, toStorage, type ReadDb } from '../../store.js';
import { notFound } from '../../errors.js';
import { IDENTITY_TOUCH_INTERVAL_MS } from '../../limits.js';

export interface InstanceFilter {
  name?: string;
  workspace?: string;
  stack?: string;
  capability?: string;
}

/** The public shape (SPEC §2.5): no token, RFC 3339 times. */
export function summary(i: Instance) {
  return {
    id: i.id,
    name: i.name,
    workspace: i.workspace,
    intent: i.intent,
    stack: i.stack,
    capabilities: i.capabilities,
    status: i.status,
    registered_at: toRfc3339(i.registered_at),
    last_seen: toRfc3339(i.last_seen),
  };
}
export type Summary = ReturnType<typeof summary>;

type Row = Omit<Instance, 'capabilities'> & { capabilities: string };
const decode = (r: Row): Instance => ({ ...r, capabilities: JSON.parse(r.capabilities) as string[] });
const tokenKey = (bearer: string): string => createHash('sha256').update(bearer).digest('hex');

/**
 * Agent instances: registry over the writer, reads from the read connection, and the identity
 * index used by auth (SPEC §8.4): instance id → agent, digest of "Bearer <instance token>" → agent.
 */
export class InstanceService {
  private readonly q;
  private readonly byId = new Map<string, Identity>();
  private readonly byToken = new Map<string, Identity>();
  private readonly lastTouch = new Map<string, number>();

  constructor(
    db: ReadDb,
    private readonly writer: WriterClient,
    private readonly log: Logger,
    /** Fans out events the writer stored with an instance change (wired to the events domain). */
    private readonly announce: (events: readonly Event[]) => void = () => {},
  ) {
    const COLS = 'id, name, workspace, intent, stack, capabilities, status, token, registered_at, last_seen';
    this.q = {
      list: db.prepare<[Record<keyof InstanceFilter, string | null>], Row>(
        `SELECT ${COLS} FROM instances
         WHERE (@name IS NULL OR name = @name) AND (@workspace IS NULL OR workspace = @workspace)
           AND (@stack IS NULL OR stack = @stack)
           AND (@capability IS NULL OR EXISTS (SELECT 1 FROM json_each(instances.capabilities) WHERE value = @capability))
         ORDER BY last_seen DESC, registered_at DESC`,
      ),
      stale: db.prepare<[], Row>(`SELECT ${COLS} FROM instances WHERE status = 'stale' ORDER BY last_seen DESC`),
      get: db.prepare<[string], Row>(`SELECT ${COLS} FROM instances WHERE id = ?`),
      all: db.prepare<[], { id: string; name: string; token: string }>('SELECT id, name, token FROM instances'),
      count: db.prepare<[], number>('SELECT count(*) FROM instances').pluck(),
    };
    this.reindex();
    // A register/deregister whose reply was lost may still have committed: trust the DB.
    writer.onUncertain(() => this.reindex());
  }

  private reindex(): void {
    this.byId.clear();
    this.byToken.clear();
    for (const r of this.q.all.all()) this.index(r);
  }

  private index(r: { id: string; name: string; token: string }): void {
    const id: Identity = { instanceId: r.id, name: r.name };
    this.byId.set(r.id, id);
    this.byToken.set(tokenKey(`Bearer ${r.token}`), id);
  }

  private unindex(id: string): void {
    this.byId.delete(id);
    this.lastTouch.delete(id);
    for (const [k, v] of this.byToken) if (v.instanceId === id) this.byToken.delete(k);
  }

  /** Authorization header carrying an instance token → its agent (never after deregistration). */
  readonly resolveToken = (authorization: string): Identity | null => (authorization.startsWith('Bearer ') ? (this.byToken.get(tokenKey(authorization)) ?? null) : null);

  /** X-Koor-Instance header → agent; unknown ids are not attributed. */
  readonly resolveInstance = (instanceId: string): Identity | null => this.byId.get(instanceId) ?? null;

  /** Refreshes an identified agent's last_seen (throttled, fire and forget). */
  seen(identity: Identity): void {
    const now = Date.now();
    if (now - (this.lastTouch.get(identity.instanceId) ?? 0) < IDENTITY_TOUCH_INTERVAL_MS) return;
    this.lastTouch.set(identity.instanceId, now);
    this.writer.call('instances.touch', { id: identity.instanceId, op: 'touch' }).catch((err: unknown) => this.log.debug({ err, id: identity.instanceId }, 'last_seen refresh failed'));
  }

  list(f: InstanceFilter): Summary[] {
    const p = { name: f.name ?? null, workspace: f.workspace ?? null, stack: f.stack ?? null, capability: f.capability ?? null };
    return this.q.list.all(p).map((r) => summary(decode(r)));
  }

  stale(): Summary[] {
    return this.q.stale.all().map((r) => summary(decode(r)));
  }

  get(id: string): Summary {
    const r = this.q.get.get(id);
    if (!r) throw notFound(`instance not found: ${id}`);
    return summary(decode(r));
  }

  count(): number {
    return this.q.count.get() ?? 0;
  }

  async register(input: { name: string; workspace: string; intent: string; stack: string; capabilities: string[] }, audit?: AuditTag): Promise<Summary & { token: string }> {
    const row = await this.writer.call('instances.register', input, { audit });
    this.index(row);
    return { ...summary(row), token: row.token };
  }

  async touch(id: string, op: 'activate' | 'heartbeat', audit?: AuditTag): Promise<Summary> {
    return summary(await this.writer.call('instances.touch', { id, op }, { audit }));
  }

  async update(id: string, change: { capabilities?: string[]; intent?: string }, audit?: AuditTag): Promise<Summary> {
    return summary(await this.writer.call('instances.update', { id, ...change }, { audit }));
  }

  /** Deletes the instance; what it held (leases, claimed tasks) is released in the same write. */
  async deregister(id: string, audit?: AuditTag): Promise<void> {
    const r = await this.writer.call('instances.deregister', { id }, { audit });
    this.unindex(id);
    this.announce(r.events);
  }

  /**
   * Marks active instances unseen since `cutoffMs` stale; returns them. The writer stores their
   * `agent.stale` events and releases what they held in the same transaction; those go out here.
   */
  async markStale(cutoffMs: number): Promise<Summary[]> {
    const cutoff = toStorage(cutoffMs);
    const r = await this.writer.call('instances.mark_stale', { cutoff });
    this.announce(r.events);
    return r.stale.map(summary);
  }
}
