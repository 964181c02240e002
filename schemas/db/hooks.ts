import type { HookSession } from '../rpc/writer.js';
import { HOOK_SESSIONS } from './tables/hooks.js';

/**
 * The hook_sessions table (schemas/db/tables/hooks.ts) as both sides use it: the writer (bind,
 * advance, end) and the front's reader (each hook's session, the digest endpoint). The row codec
 * is declared once here.
 */

export const HOOK_SESSION_COLUMNS = Object.keys(HOOK_SESSIONS.columns).join(', ');

/** A hook_sessions row as stored: `edited` JSON text, counters possibly int8 text (PostgreSQL). */
export type HookSessionRow = Omit<HookSession, 'edited' | 'denied' | 'event_cursor' | 'audit_cursor' | 'message_cursor' | 'synced_event' | 'held' | 'busy_count' | 'pull_warned'> & {
  edited: string;
  pull_warned: string;
  denied: string;
  held: string;
  event_cursor: number | string;
  audit_cursor: number | string;
  message_cursor: number | string;
  synced_event: number | string;
  busy_count: number | string;
};

export const decodeHookSession = (r: HookSessionRow): HookSession => ({
  ...r,
  event_cursor: Number(r.event_cursor),
  audit_cursor: Number(r.audit_cursor),
  message_cursor: Number(r.message_cursor),
  synced_event: Number(r.synced_event),
  busy_count: Number(r.busy_count),
  edited: JSON.parse(r.edited) as string[],
  denied: JSON.parse(r.denied) as HookSession['denied'],
  held: JSON.parse(r.held) as string[],
  pull_warned: JSON.parse(r.pull_warned) as HookSession['pull_warned'],
});
