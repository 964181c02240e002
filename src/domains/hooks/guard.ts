import type { HookSession } from '../../../schemas/rpc/writer.js';
import { LEASE } from '../../../schemas/db/tables/leases.js';
import type { Lease } from '../../../schemas/http/leases.js';
import { dataNow } from '../../../schemas/db/time.js';
import { inScope } from '../../access.js';
import type { Hub } from '../../bus/hub.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { literalPathGlob } from '../../shared/path-glob.js';
import { HOOK_SCAN_EVENTS } from '../../shared/limits-features.js';
import type { LeaseService } from '../leases/service.js';
import { leasedReason, type Me } from './digest.js';
import { EditLeases, type OwnLease } from './edit-leases.js';
import { NOTHING, type HookCaller, type HookOutput } from './input.js';
import { changedSincePull, pullFirstReason, type PullDeps } from './pull-first.js';
import type { SessionCache } from './sessions.js';

/** The reason of a lease an edit hook takes (it ends after an idle lifetime). */
const AUTO_LEASE_REASON = 'editing (auto-lease)';

/** Another agent's exclusive lease among `leases`: it refuses the edit. */
const blockingOf = (leases: readonly Lease[], me: Me): Lease | undefined => leases.find((l) => l.holder !== me.id && l.exclusive);

/** The agent's own lease among `leases` that makes the file its own: its auto-lease, else an exclusive one. */
function mineOf(leases: readonly Lease[], me: Me): { lease: Lease; auto: boolean } | undefined {
  const auto = leases.find((l) => l.holder === me.id && l.reason === AUTO_LEASE_REASON && l.expires_at !== '');
  if (auto) return { lease: auto, auto: true };
  const exclusive = leases.find((l) => l.holder === me.id && l.exclusive);
  return exclusive && { lease: exclusive, auto: false };
}

/**
 * The guard of a session's edits (PreToolUse of a tool that changes a file): another agent's
 * lease refuses it, a file nobody leases is auto-leased, a file another agent let go since the
 * clone's last pull is asked to be pulled first; and the copies of the leases the node's sessions
 * hold on the files they edit (`own`), which answer most edits without a read.
 */
export class EditGuard {
  readonly own: EditLeases;

  constructor(
    private readonly d: { leases: LeaseService; writer: WriterClient; edits: 'deny' | 'auto-lease'; autoLeaseIdleMs: number; hub: Hub; log: Logger },
    private readonly x: { exact: boolean; pull: PullDeps; sessions: SessionCache; stats: { denied: number; pull_first: number; auto_leased: number } },
  ) {
    this.own = new EditLeases(d.hub, (id, holder) => d.writer.call('leases.renew', { id, holder }, { lazy: true }).then((r) => LEASE.wire(r.lease).expires_at), { exact: x.exact, idleMs: d.autoLeaseIdleMs, log: d.log });
  }

  /**
   * PreToolUse of an edit: refused when another agent holds an exclusive lease on the file; with
   * `auto-lease`, the first edit of a file nobody leases takes an exclusive lease on it for this
   * agent, held until it has not edited the file for `autoLeaseIdleMs` (each edit of it renews
   * the lease; 0: while it lives) and released when its session ends or it goes stale.
   */
  async guard(s: HookSession, me: Me, rel: string, tool: string, caller: HookCaller): Promise<HookOutput> {
    // Most edits are of a file the agent already leases: known here (exact mode), the lease table is not read.
    let own = this.own.get(s.session_id, rel, dataNow());
    // Else, where it may take an auto-lease (a scoped token's agent only on files its scopes reach), the writer decides.
    const mayLease = own === undefined && this.d.edits === 'auto-lease' && (caller.scopes === null || inScope(caller.scopes, { kind: 'path', name: rel, project: s.project }));
    // Where no copies are kept (a cluster's node), the lease table is read first: most edits are of
    // a file the agent holds, and there a read costs a third of a write (PostgreSQL's commit).
    if (mayLease && this.x.exact) return this.lease(s, me, rel, tool);
    const leases = own ? [] : await this.d.leases.check(s.project, rel);
    const blocking = blockingOf(leases, me);
    if (blocking) return this.deny(me, rel, blocking, tool, s.session_id);
    const mine = mineOf(leases, me);
    if (mine) own = this.own.set(s.session_id, rel, mine.lease, mine.auto);
    else if (mayLease) return this.lease(s, me, rel, tool);
    // Free to edit, but maybe not on a fresh copy: pull first (pull-first.ts).
    // The newest event read after the lease check (not the probe's): a release that freed the file is below it.
    const changed = await changedSincePull(this.x.pull, s, me.id, rel, HOOK_SCAN_EVENTS);
    if (changed !== null) return this.pullFirst(s, rel, changed);
    if (own?.auto && this.d.edits === 'auto-lease') this.own.renew(own, me.id);
    return NOTHING;
  }

  /**
   * The edit of a file its agent is not known here to lease, where it may take an auto-lease: one
   * writer call decides it in its transaction (`leases.acquire` with `auto`) — another agent's
   * lease in the way (an exclusive one refuses the edit; shared ones let it go unleased), the
   * agent's own lease on the file (kept, an auto-lease renewed), or a new auto-lease. A lease check
   * on this thread first read the same index the write then read again: half of this thread's
   * time for such an edit. Pull first is asked after it, with the file then held: a release that
   * freed it is below the newest event by then, and no one takes the file while its agent pulls.
   */
  private async lease(s: HookSession, me: Me, rel: string, tool: string): Promise<HookOutput> {
    let r;
    try {
      r = await this.d.writer.call(
        'leases.acquire',
        { holder: me.id, project: s.project, resources: [literalPathGlob(rel)], exclusive: true, ttl_ms: this.d.autoLeaseIdleMs, reason: AUTO_LEASE_REASON, auto: true },
        { audit: { actor: me.name } },
      );
    } catch (err) {
      // A writer that failed the call (its disk full, restarting) still lets another agent's lease refuse the edit: read.
      const blocking = blockingOf(await this.d.leases.check(s.project, rel), me);
      if (blocking) return this.deny(me, rel, blocking, tool, s.session_id);
      throw err;
    }
    let own: OwnLease | undefined;
    if ('conflict' in r) {
      // Only other agents' leases are in the way.
      const blocking = blockingOf(r.conflict.leases.map(LEASE.wire), me);
      if (blocking) return this.deny(me, rel, blocking, tool, s.session_id);
    } else if ('held' in r) {
      // Only the agent's own.
      const mine = mineOf(r.held.map(LEASE.wire), me);
      if (mine) own = this.own.set(s.session_id, rel, mine.lease, mine.auto);
    } else {
      this.x.stats.auto_leased++;
      own = this.own.set(s.session_id, rel, LEASE.wire(r.lease), true);
    }
    const changed = await changedSincePull(this.x.pull, s, me.id, rel, HOOK_SCAN_EVENTS);
    if (changed !== null) return this.pullFirst(s, rel, changed);
    if (own?.auto && 'held' in r) this.own.renew(own, me.id);
    return NOTHING;
  }

  /** The refusal of an edit of a file that may have changed since the session's clone last pulled (pull-first.ts). */
  private pullFirst(s: HookSession, rel: string, holder: string): HookOutput {
    this.x.sessions.drop(s.session_id);
    this.x.stats.pull_first++;
    return { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: pullFirstReason(rel, holder) } };
  }

  /**
   * The refusal of an edit, answered without waiting for its record (the `lease.denied` event, its
   * audit entry, the session's list of refusals its digest watches): the decision is made; a
   * writer that is slow, full or restarting must not turn it into a failed hook, which the client
   * takes as no objection and lets the edit through.
   */
  private deny(me: Me, rel: string, lease: Pick<Lease, 'id' | 'holder' | 'holder_name' | 'reason' | 'acquired_at'>, tool: string, sessionId: string): HookOutput {
    this.x.stats.denied++;
    this.x.sessions
      .writing(sessionId, () => this.d.writer.call('hooks.denied', { agent: me.id, agent_name: me.name, path: rel, lease_id: lease.id, holder: lease.holder, holder_name: lease.holder_name, tool, project: me.project, session_id: sessionId }, { audit: { actor: me.name } }))
      .catch((err: unknown) => this.d.log.warn({ err, session: sessionId, path: rel }, 'edit refusal not recorded'));
    return { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: leasedReason(rel, lease) } };
  }
}
