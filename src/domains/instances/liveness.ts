import type { Logger } from '../../log.js';
import { Periodic } from '../../shared/periodic.js';
import type { Presence } from './presence.js';
import type { InstanceSummary } from '../../../schemas/http/instances.js';
import type { InstanceService } from './service.js';
import { dataNow } from '../../../schemas/db/time.js';

/**
 * Liveness monitor: every interval, active instances unseen for the timeout
 * become stale. Their `agent.stale` events, and the release of their leases and claimed tasks,
 * are stored by the writer in the same transaction and fanned out by the service.
 * Nobody is judged while the server's own presence is in its grace period after an absence
 * (presence.ts); while it runs, the wall-clock time an absence missed is credited to
 * TTL leases (`shiftLeases`).
 */
export class LivenessMonitor {
  private readonly timer: Periodic;
  private unlisten: (() => void) | null = null;
  /** Lease-shifting writes still in flight (the lease sweep waits for them). */
  private shifting: Promise<void> = Promise.resolve();

  constructor(
    private readonly instances: InstanceService,
    readonly presence: Presence,
    private readonly opts: { intervalMs: number; timeoutMs: number; sessionKeepMs: number; log: Logger; shiftLeases: (byMs: number) => Promise<number>; leading?: () => boolean },
  ) {
    this.timer = new Periodic(() => this.check(), { everyMs: opts.intervalMs, name: 'liveness check', log: opts.log });
  }

  /** Resolves once the leases were credited with every absence noticed so far. */
  settled(): Promise<void> {
    this.presence.sample();
    return this.shifting;
  }

  async check(): Promise<InstanceSummary[]> {
    if (!this.presence.judging()) return [];
    const stale = await this.instances.markStale(dataNow() - this.opts.timeoutMs);
    if (stale.length > 0) this.opts.log.info({ count: stale.length }, 'instances went stale');
    if (this.opts.sessionKeepMs > 0) {
      const ended = await this.instances.endStaleSessions(dataNow() - this.opts.sessionKeepMs);
      if (ended > 0) this.opts.log.info({ count: ended }, 'coding-agent sessions of stale agents ended (killed without SessionEnd)');
    }
    return stale;
  }

  start(): void {
    // Becoming the one that judges (process start, or elected leader in a cluster) is a resumption:
    // agents that heartbeated another node's monitor get a full timeout before this one judges.
    this.presence.resume();
    this.unlisten = this.presence.onAbsence((a) => {
      this.opts.log.warn({ held_ms: Math.round(a.heldMs), missed_wall_ms: a.missedWallMs, grace_ms: this.opts.timeoutMs }, 'the server was held up or its wall clock stepped: nobody goes stale during the grace period');
      if (a.missedWallMs === 0) return;
      this.shifting = this.shifting.then(() => {
        // A paused ex-leader's probe may notice its absence before its election deposes it: only
        // the node holding the lead right now credits the leases (the new leader already did).
        if (this.opts.leading && !this.opts.leading()) {
          this.opts.log.info({ by_ms: a.missedWallMs }, 'not the leader any more: TTL leases left to the leader');
          return;
        }
        return this.opts.shiftLeases(a.missedWallMs).then(
          (n) => {
            if (n > 0) this.opts.log.info({ leases: n, by_ms: a.missedWallMs }, 'TTL leases credited with the time the server missed');
          },
          (err: unknown) => this.opts.log.warn({ err }, 'crediting TTL leases failed'),
        );
      });
    });
    this.timer.start();
  }

  /** Resolves once the check in flight (if any) is over. */
  stop(): Promise<void> {
    this.unlisten?.();
    this.unlisten = null;
    return this.timer.stop();
  }
}
