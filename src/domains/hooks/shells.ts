import type { HookSession } from '../../../schemas/rpc/writer.js';
import type { HookBusy } from '../../../schemas/rpc/writer-hooks.js';
import { HOOK_BUSY_MAX_MS } from '../../../schemas/rpc/writer-hooks.js';
import { HOOK_SESSIONS_REMEMBERED } from '../../shared/limits-features.js';
import { busyChange, type HookInput } from './input.js';

interface Pending {
  /** Commands started here and not yet written (nor ended here). */
  count: number;
  /** The latest end their timeouts allow, epoch ms. */
  untilMs: number;
  timer: NodeJS.Timeout;
}

/**
 * The shell commands a node's sessions run, as the liveness check must see them: a command that
 * runs long may keep its agent from any hook until it ends, and the row that says so
 * (`busy_count`, `busy_until`) keeps the agent from being judged stale meanwhile. Most commands
 * end in seconds, long before the check could judge their agent (a hook's heartbeat is at most
 * `deferMs` old, a quarter of the liveness timeout), so a start is written only once it has
 * waited `deferMs` here; an end that finds one waiting here takes it back, and neither is
 * written — no write, and none on the agent's path. Any other end is written, as a count the
 * row takes one from: where every hook reaches this node (one writer: SQLite) only when the row
 * holds a command; in a cluster always, since its start may be waiting on another node (the row's
 * count then dips below zero until that start is written, and holds nothing meanwhile).
 * Closing writes what is waiting, so a restart forgets no command that may still run.
 */
export class Shells {
  private readonly pending = new Map<string, Pending>();
  /** Sessions with starts written and not yet acknowledged: a hook may have read the row before them. */
  private readonly flushing = new Map<string, number>();

  constructor(
    /** Writes a change of the session's row (not on the agent's path: not awaited). */
    private readonly write: (sessionId: string, busy: HookBusy) => Promise<unknown>,
    private readonly deferMs: number,
    /** A cluster: a command's end may reach another node than its start. */
    private readonly endsAnywhere: boolean,
  ) {}

  /**
   * A hook's news of its session's commands (busyChange): one starts (its agent may run no hook
   * until it ends: not stale before then), one ends, or none runs (the turn ended: what waits
   * here is dropped, the row cleared when it holds any). The write made now, if any.
   */
  note(s: Pick<HookSession, 'session_id' | 'busy_until' | 'busy_count'>, input: HookInput): Promise<unknown> | null {
    const id = s.session_id;
    // The row, or a start written here that it may not show yet.
    const rowHeld = s.busy_until !== '' || s.busy_count > 0 || this.flushing.has(id);
    const busy = busyChange(input, rowHeld || this.count(id) > 0 || this.endsAnywhere);
    if (busy === null) return null;
    if (busy === 'end') return this.end(id) ? null : this.write(id, 'end');
    if (busy === 'clear') {
      this.forget(id);
      return rowHeld ? this.write(id, 'clear') : null;
    }
    return this.start(id, busy.ms);
  }

  /** Commands of the session waiting here to be written. */
  count(sessionId: string): number {
    return this.pending.get(sessionId)?.count ?? 0;
  }

  /** A command starts that may run `ms`; the write made now, if any (past the bound of sessions kept). */
  private start(sessionId: string, ms: number): Promise<unknown> | null {
    let p = this.pending.get(sessionId);
    if (!p) {
      if (this.pending.size >= HOOK_SESSIONS_REMEMBERED) return this.write(sessionId, { ms });
      p = { count: 0, untilMs: 0, timer: setTimeout(() => void this.flush(sessionId), this.deferMs) };
      p.timer.unref();
      this.pending.set(sessionId, p);
    }
    p.count++;
    p.untilMs = Math.max(p.untilMs, Date.now() + ms);
    return null;
  }

  /** One ends: true when it took back a start waiting here (nothing to write). */
  private end(sessionId: string): boolean {
    const p = this.pending.get(sessionId);
    if (!p) return false;
    if (--p.count <= 0) this.forget(sessionId);
    return true;
  }

  /** The session ended, or its turn did: what waits here is not written. */
  forget(sessionId: string): void {
    const p = this.pending.get(sessionId);
    if (p) clearTimeout(p.timer);
    this.pending.delete(sessionId);
  }

  /** Writes every start waiting here (the server is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.pending.keys()].map((id) => this.flush(id)));
  }

  /** The session's starts waiting here, written: they have run deferMs. */
  private flush(sessionId: string): Promise<unknown> {
    const p = this.pending.get(sessionId);
    if (!p) return Promise.resolve();
    this.forget(sessionId);
    const ms = Math.min(HOOK_BUSY_MAX_MS, Math.max(1, p.untilMs - Date.now()));
    this.flushing.set(sessionId, (this.flushing.get(sessionId) ?? 0) + 1);
    return Promise.all(Array.from({ length: p.count }, () => this.write(sessionId, { ms }))).finally(() => {
      const n = this.flushing.get(sessionId)! - 1;
      if (n > 0) this.flushing.set(sessionId, n);
      else this.flushing.delete(sessionId);
    });
  }
}
