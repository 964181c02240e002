import Database from 'better-sqlite3';
import type { DeliveryEvents } from '../../schemas/rpc/delivery.js';
import type { Event } from '../../schemas/rpc/writer-rows.js';

/**
 * The delivery thread's read-only view of the event log (opened on first use): the bodies of a
 * run are read here, so the front's event loop never reads or copies them.
 */
export class EventLog {
  private range: Database.Statement<[number, number], Event> | null = null;

  constructor(private readonly file: string) {}

  /** The events of `sel` still in the log (pruned ones are gone), oldest first. */
  read(sel: DeliveryEvents): Event[] {
    if (!this.range) {
      const db = new Database(this.file, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      this.range = db.prepare('SELECT id, topic, data, source, created_at FROM events WHERE id > ? AND id <= ? ORDER BY id');
    }
    const rows = this.range.all(sel.after, sel.upto);
    if (!sel.ids) return rows;
    const want = new Set(sel.ids);
    return rows.filter((r) => want.has(r.id));
  }
}
