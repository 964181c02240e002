import type { Sql } from 'postgres';

/**
 * Leader election among koor nodes sharing one PostgreSQL (cluster mode): the node that
 * holds a session-level advisory lock runs the cluster-wide background jobs (liveness monitor,
 * pruning, compliance, webhook dispatch); the others keep trying.
 *
 * Safety comes from PostgreSQL: the lock belongs to one session, and a second session cannot take
 * it while the first lives. When the leader's process dies (kill -9, a lost host), PostgreSQL ends
 * its session — at once when the socket closes, after the TCP keepalive / `idle_session_timeout`
 * when the host vanished — the lock is released, and the next node to try takes it: takeover
 * within `retryMs` of the release, plus the grace below.
 *
 * The one unsafe moment is a leader that is alive but lost its session (the connection cut from
 * PostgreSQL's side): the lock is free at once, the node learns it only at its next check. So:
 * a leader checks every `checkMs` and steps down when a check fails or none has answered for
 * 2 × `checkMs` (a lease it renews by checking); and a node that takes the lock waits 3 × `checkMs`
 * before it starts the jobs — by then a previous leader has stepped down, unless its event loop
 * stalled for longer than that. The jobs koor runs this way are idempotent or at-least-once by
 * design (marking agents stale, pruning, webhook runs settled by cursor), so such a stall costs a
 * repeat, never a loss.
 *
 * `sql` must be a client of its own with ONE connection (`max: 1`): that connection is the
 * session that holds the lock. When it breaks, the client opens a new one for the next query,
 * which holds nothing: the leader's check sees that and steps down; a follower just tries again.
 * (postgres.js's reserve() is not used: a query on a reserved connection whose socket the server
 * closed throws outside the query's promise.)
 */
export interface LeaderOptions {
  /** Advisory lock key, a positive int32 (the check reads it back as pg_locks.objid): one per election. */
  key: number;
  /** How often a follower tries for the lock. */
  retryMs: number;
  /** How often a leader checks that its session (and so its lock) is alive. */
  checkMs: number;
  /** This node became the leader: start the jobs. */
  onElected: () => void;
  /** This node is no longer the leader: stop the jobs now. */
  onDeposed: (why: string) => void;
  /** Where failures to reach PostgreSQL are reported (they are retried). */
  onError?: (err: unknown) => void;
}

export class LeaderElection {
  private timer: NodeJS.Timeout | null = null;
  private leading = false;
  /** Holds the lock, waiting out the grace before leading. */
  private electedAt = 0;
  /** When the last leader check answered (the lead lapses 2 × `checkMs` after it). */
  private checkedAt = 0;
  private stopped = false;
  private busy = false;

  constructor(
    private readonly sql: Sql,
    private readonly opts: LeaderOptions,
  ) {}

  /**
   * Leading, and the lead not lapsed: after a pause (SIGSTOP, a VM freeze) the flag stays set until
   * the next tick deposes, but a lock unchecked for 2 × `checkMs` may already be another node's.
   */
  get isLeader(): boolean {
    return this.leading && Date.now() - this.checkedAt <= 2 * this.opts.checkMs;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Steps down (releasing the lock for the next node at once) and stops trying. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const held = this.leading || this.electedAt > 0;
    this.electedAt = 0;
    if (this.leading) this.depose('stopped');
    if (!held) return;
    try {
      // All levels: a session that re-took its own lock holds it more than once.
      await this.sql`SELECT pg_advisory_unlock_all()`;
    } catch {
      // the session is gone: so is the lock
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private depose(why: string): void {
    this.leading = false;
    this.opts.onDeposed(why);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    // The next look is due whatever this one does: a query that hangs must not stop the clock.
    this.schedule(this.leading || this.electedAt > 0 ? this.opts.checkMs : this.opts.retryMs);
    // A check that has not answered in time ends the lead (the session may be gone).
    if (this.leading && Date.now() - this.checkedAt > 2 * this.opts.checkMs) this.depose('lock check did not answer in time');
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.leading || this.electedAt > 0) {
        // Still our session? (A cut connection or a restarted PostgreSQL took the lock with it;
        // the client then answers on a new session, which holds nothing.)
        const [row] = await this.sql<{ held: boolean }[]>`
          SELECT count(*) > 0 AS held FROM pg_locks
          WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objid = ${this.opts.key} AND granted`;
        if (!row?.held) {
          this.electedAt = 0;
          if (this.leading) this.depose('advisory lock no longer held');
        } else if (!this.leading && !this.stopped && Date.now() - this.electedAt >= 3 * this.opts.checkMs) {
          // The grace is over: a previous leader has noticed it lost the lock.
          this.electedAt = 0;
          this.leading = true;
          this.checkedAt = Date.now();
          this.opts.onElected();
        } else if (this.leading) this.checkedAt = Date.now();
      } else {
        const [row] = await this.sql<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${this.opts.key}) AS ok`;
        if (row?.ok && !this.stopped) this.electedAt = Date.now();
      }
    } catch (err) {
      // The session failed: whatever lock it had is gone with it.
      this.electedAt = 0;
      if (this.leading) this.depose(`session lost: ${(err as Error).message}`);
      this.opts.onError?.(err);
    } finally {
      this.busy = false;
    }
  }
}
