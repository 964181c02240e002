import type { HookSession } from '../../../schemas/rpc/writer.js';
import type { HookBusy } from '../../../schemas/rpc/writer-hooks.js';
import { HOOK_BUSY_MAX_MS } from '../../../schemas/rpc/writer-hooks.js';
import { HOOK_SESSIONS_REMEMBERED } from '../../shared/limits-features.js';
import { busyChange, type HookInput } from './input.js';

interface Running {
  /** Commands started and not ended, as this node saw them. */
  count: number;
  /** The latest end their timeouts allow, epoch ms. */
  untilMs: number;
  /** How many of them the session's row counts (written). */
  written: number;
  timer: NodeJS.Timeout | null;
}

/**
 * The shell commands a node's sessions run, as the liveness check must see them: a command that
 * runs long may keep its agent from any hook until it ends, and the row that says so
 * (`busy_until`, `busy_count`) keeps the agent from being judged stale meanwhile. Most commands
 * end in seconds, long before the check could judge their agent (a hook's heartbeat is at most
 * `deferMs` old, a quarter of the liveness timeout), so a command is written only once it has
 * run `deferMs`; one that ends before is never written — its start and end cost no write, and
 * no write is on the agent's path. Once written, its end is written too. The rows of sessions
 * this node did not see start a command (a restart; in a cluster, where none is deferred, any
 * command) are the caller's.
 * Closing writes what is pending, so a restart forgets no command that may still run.
 */
export class Shells {
  private readonly running = new Map<string, Running>();

  constructor(
    /** Writes a change of the session's row (not on the agent's path: not awaited). */
    private readonly write: (sessionId: string, busy: HookBusy) => Promise<unknown>,
    /** null: every command written at once (a cluster: a session's next hook may reach any node, which must find it in the row). */
    private readonly deferMs: number | null,
  ) {}

  /**
   * A hook's news of its session's commands (busyChange): one starts (its agent may run no hook
   * until it ends: not stale before then), one ends, or none runs (the turn ended). The session's
   * row, when it says more than this node saw, is cleared here. The write made now, if any (a
   * cluster writes each at once).
   */
  note(s: Pick<HookSession, 'session_id' | 'busy_until' | 'busy_count'>, input: HookInput): Promise<unknown> | null {
    const id = s.session_id;
    const busy = busyChange(input, { busy_until: s.busy_until, busy_count: s.busy_count + this.count(id) });
    if (busy === null) return null;
    const rowHeld = s.busy_until !== '' || s.busy_count > 0;
    if (busy === 'end') return this.end(id) ? null : this.write(id, 'end');
    if (busy === 'clear') return !this.clear(id) && rowHeld ? this.write(id, 'clear') : null;
    return this.start(id, busy.ms);
  }

  /** Commands of the session this node knows to be running. */
  count(sessionId: string): number {
    return this.running.get(sessionId)?.count ?? 0;
  }

  /** A command starts that may run `ms`; the write it made now, if any. */
  start(sessionId: string, ms: number): Promise<unknown> | null {
    let r = this.running.get(sessionId);
    if (!r) {
      // Past the bound (a flood of sessions), or in a cluster, it is written at once.
      if (this.deferMs === null || this.running.size >= HOOK_SESSIONS_REMEMBERED) return this.write(sessionId, { ms });
      r = { count: 0, untilMs: 0, written: 0, timer: null };
      this.running.set(sessionId, r);
    }
    r.count++;
    r.untilMs = Math.max(r.untilMs, Date.now() + ms);
    if (r.written > 0) {
      // The row already says busy: this one is counted at once.
      r.written++;
      return this.write(sessionId, { ms });
    }
    if (r.timer === null) {
      r.timer = setTimeout(() => void this.flush(sessionId), this.deferMs ?? 0);
      r.timer.unref();
    }
    return null;
  }

  /** One ends; false when this node knew of none running (the row's, if any, is the caller's). */
  end(sessionId: string): boolean {
    const r = this.running.get(sessionId);
    if (!r) return false;
    r.count--;
    if (r.written > 0) {
      r.written--;
      void this.write(sessionId, 'end');
    }
    if (r.count <= 0) this.forget(sessionId);
    return true;
  }

  /** None runs (the turn ended); true when the row was cleared here. */
  clear(sessionId: string): boolean {
    const r = this.running.get(sessionId);
    this.forget(sessionId);
    if (!r || r.written === 0) return false;
    void this.write(sessionId, 'clear');
    return true;
  }

  /** The session ended: nothing of it is written. */
  forget(sessionId: string): void {
    const r = this.running.get(sessionId);
    if (r?.timer) clearTimeout(r.timer);
    this.running.delete(sessionId);
  }

  /** Writes every command not yet written (the server is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.flush(id)));
    for (const id of [...this.running.keys()]) this.forget(id);
  }

  /** The session's commands not yet in its row, written: they have run deferMs. */
  private flush(sessionId: string): Promise<unknown> {
    const r = this.running.get(sessionId);
    if (!r) return Promise.resolve();
    if (r.timer) clearTimeout(r.timer);
    r.timer = null;
    const ms = Math.min(HOOK_BUSY_MAX_MS, Math.max(1, r.untilMs - Date.now()));
    const writes: Array<Promise<unknown>> = [];
    for (; r.written < r.count; r.written++) writes.push(this.write(sessionId, { ms }));
    return Promise.all(writes);
  }
}
