import { dataNow } from '../../../schemas/db/time.js';
import type { Hub } from '../../bus/hub.js';
import type { Lease } from '../../../schemas/http/leases.js';
import type { Logger } from '../../log.js';
import { addBounded } from '../../shared/bounded.js';
import { HOOK_SESSIONS_REMEMBERED } from '../../shared/limits-features.js';

/** An exclusive lease a session's agent holds on a file it edits. */
export interface OwnLease {
  id: string;
  /** Taken by an edit hook (its idle lifetime renewed by edits), else the agent's own (a task's, one it took by hand). */
  auto: boolean;
  /** When it ends by itself, epoch ms (0: with its holder). */
  expiresMs: number;
  expiresAt: string;
}

/** Entries kept, at most (forgotten whole past it: they are found again by the next edits). */
const MAX = HOOK_SESSIONS_REMEMBERED * 4;
/** The most of an auto-lease's idle lifetime an edit leaves unrenewed, ms (a tenth of it when shorter). */
const RENEW_SLACK_MS = 10_000;

const ownLease = (lease: Pick<Lease, 'id' | 'expires_at'>, auto: boolean): OwnLease => ({ id: lease.id, auto, expiresMs: lease.expires_at === '' ? 0 : Date.parse(lease.expires_at), expiresAt: lease.expires_at });

/**
 * The exclusive leases a node's sessions hold on the files they edit, so the edit of a file its
 * agent already leases — most edits — is allowed without reading the lease table; and the
 * renewal of the auto-leases edits take. The copies are kept only where every lease's end reaches
 * this node before it is acknowledged (`exact`: one writer, SQLite): a lease's end is a
 * `lease.released` event (released, expired, taken over, its holder deregistered), which drops
 * it here, and one past its time is not used. While an agent holds an exclusive lease on a file,
 * no other agent holds one on it: the edit is its own.
 */
export class EditLeases {
  private readonly byFile = new Map<string, OwnLease>();
  private readonly filesOf = new Map<string, string[]>();
  /** Auto-leases whose renewal is being written. */
  private readonly renewing = new Set<string>();

  constructor(
    hub: Hub,
    /** Writes a lease's renewal (its holder's): `leases.renew`; its new expiry (`expires_at`). */
    private readonly write: (id: string, holder: string) => Promise<string>,
    private readonly opts: { exact: boolean; idleMs: number; log: Logger },
  ) {
    if (opts.exact) hub.tap('lease.released', (_id, frame) => this.released(frame));
  }

  /** The session's live lease on `rel`, if it holds one known here. */
  get(sessionId: string, rel: string, now: number): OwnLease | undefined {
    const l = this.byFile.get(`${sessionId}\n${rel}`);
    return l && (l.expiresMs === 0 || l.expiresMs > now) ? l : undefined;
  }

  /** The session's agent holds `lease` (exclusive, live) on `rel`, as the lease table said; its copy (kept in exact mode). */
  set(sessionId: string, rel: string, lease: Pick<Lease, 'id' | 'expires_at'>, auto: boolean): OwnLease {
    const own = ownLease(lease, auto);
    if (!this.opts.exact) return own;
    if (this.byFile.size >= MAX) this.clear();
    const key = `${sessionId}\n${rel}`;
    this.byFile.set(key, own);
    const files = this.filesOf.get(lease.id);
    if (files) files.push(key);
    else this.filesOf.set(lease.id, [key]);
    return own;
  }

  /**
   * Another edit of a file it auto-leased: its idle lifetime runs from now again. Written off the
   * agent's path, and only once a tenth of the lifetime (at most RENEW_SLACK_MS) has passed since
   * the last renewal: the lease ends that much early at most, and a run of edits writes nothing.
   * The copy runs on with the expiry the write gave (the lease's end, whenever it comes, drops it).
   */
  renew(l: OwnLease, holder: string): void {
    const idle = this.opts.idleMs;
    if (l.expiresMs - dataNow() > idle - Math.min(idle / 10, RENEW_SLACK_MS) || this.renewing.has(l.id)) return;
    addBounded(this.renewing, l.id, HOOK_SESSIONS_REMEMBERED);
    this.write(l.id, holder)
      .then((expiresAt) => {
        l.expiresAt = expiresAt;
        l.expiresMs = expiresAt === '' ? 0 : Date.parse(expiresAt);
      })
      .catch((err: unknown) => {
        // Not renewed (gone, or the write's outcome unknown): read again at the next edit.
        this.drop(l.id);
        this.opts.log.debug({ err, lease: l.id }, 'auto-lease renewal failed');
      })
      .finally(() => this.renewing.delete(l.id));
  }

  /** The lease may have changed: read again at the next edit. */
  drop(leaseId: string): void {
    for (const key of this.filesOf.get(leaseId) ?? []) this.byFile.delete(key);
    this.filesOf.delete(leaseId);
  }

  clear(): void {
    this.byFile.clear();
    this.filesOf.clear();
  }

  /** A `lease.released` event's frame (one it cannot read: all of them go). */
  private released(frame: Buffer): void {
    if (this.byFile.size === 0) return;
    let id: unknown;
    try {
      id = (JSON.parse(frame.toString('utf8')) as { data?: { id?: unknown } }).data?.id;
    } catch {
      // below
    }
    if (typeof id === 'string') this.drop(id);
    else this.clear();
  }
}
