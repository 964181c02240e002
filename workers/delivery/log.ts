import Database from 'better-sqlite3';
import type { DeliveryEvents } from '../../schemas/rpc/delivery.js';

export interface LoggedEvent {
  id: number;
  topic: string;
  data: string;
  source: string;
  created_at: string;
}

/**
 * The delivery body of SPEC §2.11 with `event_id` for de-duplication; `data` spliced in as stored
 * (it is JSON text), `created_at` from storage text `YYYY-MM-DD HH:MM:SS` to RFC 3339.
 */
export function deliveryBody(e: LoggedEvent): string {
  const at = e.created_at.length === 19 ? `${e.created_at.slice(0, 10)}T${e.created_at.slice(11)}Z` : e.created_at;
  return `{"topic":${JSON.stringify(e.topic)},"data":${e.data},"source":${JSON.stringify(e.source)},"event_id":${e.id},"created_at":"${at}"}`;
}

/**
 * The delivery thread's read-only view of the event log (opened on first use): the bodies of a
 * run are read here, so the front's event loop never reads or copies them.
 */
export class EventLog {
  private range: Database.Statement<[number, number], LoggedEvent> | null = null;

  constructor(private readonly file: string) {}

  /** The events of `sel` still in the log (pruned ones are gone), oldest first. */
  read(sel: DeliveryEvents): LoggedEvent[] {
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
