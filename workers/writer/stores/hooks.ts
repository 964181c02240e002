import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { HookSession, WriterMethods } from '../../../schemas/rpc/writer.js';
import type { HookBusy } from '../../../schemas/rpc/writer-hooks.js';
import { HOOK_SESSION, type HookSessionRow } from '../../../schemas/db/tables/hooks.js';
import { NEWEST_AUDIT } from '../../../schemas/db/tables/audit.js';
import { NEWEST_EVENT } from '../../../schemas/db/tables/events.js';
import { NEWEST_MESSAGE } from '../../../schemas/db/tables/messages.js';
import { fault } from '../fault.js';
import { sql, type Tx } from '../sql.js';
import { dataNow, storageNow } from '../../../schemas/db/time.js';
import type { EventStore } from './events.js';
import { HOOK_DENIED_KEEP, HOOK_EDITED_KEEP, HOOK_PULL_WARNED_KEEP } from '../../../src/shared/limits-features.js';

type M = WriterMethods;
type Row = HookSessionRow;

/** A session's bounded JSON list (files edited, edits refused, pull-first warnings) with `item` as its newest, replacing the entry `same` finds: the newest `keep`, as stored. */
function newestLast<T>(list: readonly T[], item: T, same: (x: T) => boolean, keep: number): string {
  const out = list.filter((x) => !same(x));
  out.push(item);
  return JSON.stringify(out.slice(-keep));
}

const COLS = HOOK_SESSION.columns;
const GET = sql(`SELECT ${COLS} FROM hook_sessions WHERE session_id = ?`);
const INSERT = sql(`INSERT INTO hook_sessions (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, '[]', 0, '[]', '', 0, '[]')`);
const SET_DENIED = sql('UPDATE hook_sessions SET denied = ? WHERE session_id = ?');
const SET_SYNCED = sql('UPDATE hook_sessions SET synced_event = ? WHERE session_id = ?');
const SET_HELD = sql('UPDATE hook_sessions SET held = ? WHERE session_id = ?');
const SET_PULL_WARNED = sql('UPDATE hook_sessions SET pull_warned = ? WHERE session_id = ?');
const DELETE = sql('DELETE FROM hook_sessions WHERE session_id = ?');
const DELETE_FOR = sql('DELETE FROM hook_sessions WHERE instance_id = ?');
const INSTANCE_LIVE = sql('SELECT 1 AS found FROM instances WHERE id = ?');
/**
 * Sessions whose agent is stale and unseen since a time, the longest unseen first — but not one
 * with unread messages: ending it would drop its inbox, and a session left open (a weekend) comes
 * back to read them (message retention bounds how long they keep it).
 */
const STALE_SESSIONS = sql(
  `SELECT s.session_id, s.instance_id FROM instances i JOIN hook_sessions s ON s.instance_id = i.id
   WHERE i.status = 'stale' AND i.last_seen < ?
     AND NOT EXISTS (SELECT 1 FROM message_recipients r WHERE r.recipient = i.id AND r.read_at = '')
   ORDER BY i.last_seen LIMIT CAST(? AS bigint)`,
);
const PROGRESS = sql('UPDATE hook_sessions SET last_progress_at = ? WHERE session_id = ?');
/** A shell command starts: held until the latest end of those running. */
const BUSY_START = sql(
  `UPDATE hook_sessions SET last_progress_at = ?, busy_count = busy_count + 1,
     busy_until = CASE WHEN busy_until > ? THEN busy_until ELSE ? END
   WHERE session_id = ?`,
);
/**
 * One ended: the hold goes with the last one running (the right-hand sides read the row as it
 * was). The count may dip below zero: in a cluster an end may be written before its start, which
 * waits on another node (src/domains/hooks/shells.ts); a count not above zero holds nothing.
 */
const BUSY_END = sql(
  `UPDATE hook_sessions SET last_progress_at = ?,
     busy_until = CASE WHEN busy_count > 1 THEN busy_until ELSE '' END,
     busy_count = busy_count - 1
   WHERE session_id = ?`,
);
const BUSY_CLEAR = sql("UPDATE hook_sessions SET last_progress_at = ?, busy_until = '', busy_count = 0 WHERE session_id = ?");
/** Cursors only move forward (two nodes may digest the same session at once). */
const ADVANCE = sql(
  `UPDATE hook_sessions SET event_cursor = CASE WHEN ? > event_cursor THEN ? ELSE event_cursor END,
     audit_cursor = CASE WHEN ? > audit_cursor THEN ? ELSE audit_cursor END,
     message_cursor = CASE WHEN ? > message_cursor THEN ? ELSE message_cursor END
   WHERE session_id = ?`,
);
const SET_EDITED = sql('UPDATE hook_sessions SET edited = ? WHERE session_id = ?');
const decode = HOOK_SESSION.decode;
const newest = async (tx: Tx, q: typeof NEWEST_EVENT): Promise<number> => Number((await tx.get<{ id: number }>(q))?.id ?? 0);

/**
 * Coding-agent sessions bound to agent instances by their hooks. Registering the
 * instance, its heartbeat and its deregistration are the instance and lease stores' (wired in
 * ../methods.ts); this store keeps the binding and what the session's digests have told.
 */
export function hookStore(events: EventStore) {
  return {
    async get(tx: Tx, sessionId: string): Promise<HookSession | undefined> {
      const r = await tx.get<Row>(GET, sessionId);
      return r ? decode(r) : undefined;
    },

    /** The binding of a session whose instance still exists, if any; a stale binding (its instance deregistered) is dropped. */
    async live(tx: Tx, sessionId: string): Promise<HookSession | undefined> {
      const r = await tx.get<Row>(GET, sessionId);
      if (!r) return undefined;
      if (await tx.get(INSTANCE_LIVE, r.instance_id)) return decode(r);
      await tx.run(DELETE, sessionId);
      return undefined;
    },

    async insert(tx: Tx, req: ReqOf<M, 'hooks.bind'>, instanceId: string): Promise<HookSession> {
      const now = storageNow();
      const cursors = [await newest(tx, NEWEST_EVENT), await newest(tx, NEWEST_AUDIT), await newest(tx, NEWEST_MESSAGE)];
      await tx.run(INSERT, req.session_id, req.client, instanceId, req.project, req.repo_root, ...cursors, now, now);
      return decode((await tx.get<Row>(GET, req.session_id))!);
    },

    /** Its last progress now; with `busy`, a shell command started, one ended, or none runs. */
    async progress(tx: Tx, sessionId: string, busy?: HookBusy): Promise<boolean> {
      const now = storageNow(dataNow());
      if (busy === undefined) return (await tx.run(PROGRESS, now, sessionId)) > 0;
      if (busy === 'end') return (await tx.run(BUSY_END, now, sessionId)) > 0;
      if (busy === 'clear') return (await tx.run(BUSY_CLEAR, now, sessionId)) > 0;
      const until = storageNow(dataNow() + busy.ms);
      return (await tx.run(BUSY_START, now, until, until, sessionId)) > 0;
    },

    async advance(tx: Tx, req: ReqOf<M, 'hooks.advance'>): Promise<ResOf<M, 'hooks.advance'>> {
      const row = await tx.get<Row>(GET, req.session_id);
      if (!row) return { found: false };
      const r = decode(row);
      const e = req.event_cursor ?? 0;
      const a = req.audit_cursor ?? 0;
      const m = req.message_cursor ?? 0;
      if (e > r.event_cursor || a > r.audit_cursor || m > r.message_cursor) await tx.run(ADVANCE, e, e, a, a, m, m, req.session_id);
      if (req.synced_event !== undefined && req.synced_event > r.synced_event) await tx.run(SET_SYNCED, req.synced_event, req.session_id);
      if (req.held !== undefined && (req.held.length > 0 || r.held.length > 0)) await tx.run(SET_HELD, JSON.stringify(req.held), req.session_id);
      if (req.pull_warned !== undefined) {
        const w = req.pull_warned;
        await tx.run(SET_PULL_WARNED, newestLast(r.pull_warned, w, (x) => x.path === w.path, HOOK_PULL_WARNED_KEEP), req.session_id);
      }
      if (req.edited !== undefined) {
        const edited = req.edited;
        await tx.run(SET_EDITED, newestLast(r.edited, edited, (p) => p === edited, HOOK_EDITED_KEEP), req.session_id);
      }
      return { found: true };
    },

    async remove(tx: Tx, sessionId: string): Promise<HookSession> {
      const r = await tx.get<Row>(GET, sessionId);
      if (!r) throw fault('HOOK_SESSION_NOT_FOUND', sessionId);
      await tx.run(DELETE, sessionId);
      return decode(r);
    },

    async stale(tx: Tx, before: string, limit: number): Promise<Array<{ session_id: string; instance_id: string }>> {
      return tx.all(STALE_SESSIONS, before, limit);
    },

    async instanceExists(tx: Tx, id: string): Promise<boolean> {
      return (await tx.get(INSTANCE_LIVE, id)) !== undefined;
    },

    /** A deregistered instance's bindings go with it (its session's next hook binds anew). */
    async dropFor(tx: Tx, instanceId: string): Promise<void> {
      await tx.run(DELETE_FOR, instanceId);
    },

    async denied(tx: Tx, req: ReqOf<M, 'hooks.denied'>): Promise<ResOf<M, 'hooks.denied'>> {
      const data = JSON.stringify({ path: req.path, tool: req.tool, agent: req.agent, agent_name: req.agent_name, lease_id: req.lease_id, holder: req.holder, holder_name: req.holder_name, ...(req.project === undefined ? {} : { project: req.project }) });
      const row = req.session_id === undefined ? undefined : await tx.get<Row>(GET, req.session_id);
      if (row) {
        await tx.run(SET_DENIED, newestLast(decode(row).denied, { path: req.path, lease_id: req.lease_id }, (d) => d.path === req.path, HOOK_DENIED_KEEP), row.session_id);
      }
      return { events: [await events.publish(tx, { topic: 'lease.denied', data, source: 'hooks' })] };
    },
  };
}
