import type { HookSession } from '../../../schemas/rpc/writer.js';
import { setBounded } from '../../shared/bounded.js';
import { HOOK_SESSIONS_REMEMBERED } from '../../shared/limits-features.js';
import type { HookReader } from './reader.js';

/**
 * A node's copy of the hook sessions it serves, so a hook that changes nothing reads no row —
 * where every write of a row passes through this node (one writer: SQLite); a cluster's nodes
 * write each other's sessions (a balancer sends a session's hooks anywhere), so there every
 * hook reads its row. A hook that will write, or tell the model something, reads the row again
 * first (`fresh`). A copy goes when this node writes the row (`drop`, before and after the
 * write), when its agent is deregistered (`dropInstance`), and all of them when a write's
 * outcome is unknown. A read that a drop overtook is not kept: it may hold what the dropped
 * write changed.
 */
export class SessionCache {
  private readonly rows = new Map<string, HookSession>();
  /** Moves with every drop: a read begun before one is returned but not kept. */
  private drops = 0;

  /** `keep`: whether copies are kept (only where every write of a row passes through this node: one writer, SQLite). */
  constructor(
    private readonly reader: HookReader,
    private readonly keep: boolean,
  ) {}

  async get(id: string): Promise<HookSession | undefined> {
    const kept = this.rows.get(id);
    if (kept) return kept;
    const before = this.drops;
    const s = await this.reader.session(id);
    if (s && this.keep && before === this.drops) setBounded(this.rows, id, s, HOOK_SESSIONS_REMEMBERED);
    return s;
  }

  /** The copy kept of the row, if any (none where none are kept). */
  kept(id: string): HookSession | undefined {
    return this.rows.get(id);
  }

  /** The row as stored now (and kept); `current`, the row a hook just read, where none are kept. */
  async fresh(id: string, current?: HookSession): Promise<HookSession | undefined> {
    if (!this.keep && current) return current;
    this.drop(id);
    return this.get(id);
  }

  drop(id: string): void {
    this.drops++;
    this.rows.delete(id);
  }

  dropInstance(instanceId: string): void {
    this.drops++;
    for (const [id, s] of this.rows) if (s.instance_id === instanceId) this.rows.delete(id);
  }

  clear(): void {
    this.drops++;
    this.rows.clear();
  }

  /** `call`, the copy dropped around it: a write of the session's row. */
  async writing<T>(id: string, call: () => Promise<T>): Promise<T> {
    this.drop(id);
    try {
      return await call();
    } finally {
      this.drop(id);
    }
  }
}
