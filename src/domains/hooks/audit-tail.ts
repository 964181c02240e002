import { HOOK_AUDIT_TAIL } from '../../shared/limits-features.js';
import { then, type Awaitable } from '../../shared/awaitable.js';
import { firstAfter } from './news-clock.js';
import type { AuditNews, HookReader } from './reader.js';

/**
 * The audit entries digests report, kept as this node last read them: one stretch of the log, so
 * the sessions of a busy team read each entry from the database once between them, not once each
 * (a thousand agents joining at once were a thousand digests reading the same 200 joins, each
 * parsing every entry's detail). Only where every write passes through this node (one writer):
 * there no entry at or below an id a read saw as the newest is stored later, so a stretch read is
 * final. A reader whose `auditAfter` answers from it and reads only what lies past it.
 */
export function withAuditTail(reader: HookReader): HookReader {
  const tail = new AuditTail((after, upto, limit) => reader.auditAfter(after, upto, limit));
  return { ...reader, auditAfter: (after, upto, limit) => tail.after(after, upto, limit) };
}

export class AuditTail {
  /** Every entry a digest reports with an id in (floor, ceil], oldest first. */
  private rows: AuditNews[] = [];
  private floor = 0;
  private ceil = 0;

  constructor(private readonly read: (after: number, upto: number, limit: number) => Awaitable<AuditNews[]>) {}

  /** What `read(after, upto, limit)` returns: the first `limit` entries in (after, upto], oldest first. */
  after(after: number, upto: number, limit: number): Awaitable<AuditNews[]> {
    if (upto <= after) return [];
    // Behind the stretch (a session long silent): read, not kept — the stretch only moves on.
    if (after < this.floor) return this.read(after, upto, limit);
    if (this.rows.length === 0 && after > this.ceil) return this.restart(after, upto, limit);
    const kept = after <= this.ceil ? this.slice(after, upto, limit) : [];
    if (kept.length === limit || (after <= this.ceil && upto <= this.ceil)) return kept;
    // Read on from where the stretch ends, for every session that will ask.
    const from = this.ceil;
    return then(this.read(from, upto, HOOK_AUDIT_TAIL), (got) => {
      if (this.ceil !== from) return this.read(after, upto, limit);
      this.rows = this.rows.concat(got);
      this.ceil = got.length === HOOK_AUDIT_TAIL ? got.at(-1)!.id : upto;
      this.trim();
      // Still short of it (the stretch lagged more than a read's worth): it starts again where this session is.
      return after > this.ceil ? this.restart(after, upto, limit) : this.answer(after, upto, limit);
    });
  }

  /** The stretch read anew from `after`. */
  private restart(after: number, upto: number, limit: number): Awaitable<AuditNews[]> {
    return then(this.read(after, upto, HOOK_AUDIT_TAIL), (got) => {
      this.rows = got;
      this.floor = after;
      this.ceil = got.length === HOOK_AUDIT_TAIL ? got.at(-1)!.id : upto;
      return this.answer(after, upto, limit);
    });
  }

  /** From the stretch when it holds the answer (`limit` entries, or every one up to `upto`); else read. */
  private answer(after: number, upto: number, limit: number): Awaitable<AuditNews[]> {
    if (after < this.floor || after > this.ceil) return this.read(after, upto, limit);
    const kept = this.slice(after, upto, limit);
    return kept.length === limit || upto <= this.ceil ? kept : this.read(after, upto, limit);
  }

  /** The kept entries in (after, upto], at most `limit`. */
  private slice(after: number, upto: number, limit: number): AuditNews[] {
    const lo = firstAfter(this.rows, after);
    let end = Math.min(this.rows.length, lo + limit);
    while (end > lo && this.rows[end - 1]!.id > upto) end--;
    return this.rows.slice(lo, end);
  }

  /** Past twice HOOK_AUDIT_TAIL entries, the oldest go down to HOOK_AUDIT_TAIL, the floor moving past them. */
  private trim(): void {
    if (this.rows.length < 2 * HOOK_AUDIT_TAIL) return;
    const cut = this.rows.length - HOOK_AUDIT_TAIL;
    this.floor = this.rows[cut - 1]!.id;
    this.rows = this.rows.slice(cut);
  }
}
