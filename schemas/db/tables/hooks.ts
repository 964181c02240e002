import { Type } from '../../typebox.js';
import { f, hidden, record } from '../record.js';
import type { Table } from '../table.js';

/**
 * A coding-agent session bound to the agent instance its hooks act as: Claude Code's
 * `session_id` → an instance registered at its first hook. The cursors say what the session's
 * digests have already told the model (news is what comes after them); `edited` the
 * repository-relative files it changed (the leases of others touching them are news). A row
 * goes with its instance (SessionEnd deregisters it; so does a deregistration by hand). Its reply
 * (with its agent's name) is GET /api/hooks/claude-code/sessions/{id}'s.
 */
export const HOOK_SESSION = record(
  'hook_sessions',
  {
    session_id: f.text({ primaryKey: true }),
    /** `claude-code`, `cursor`, `codex`, … */
    client: f.text(),
    instance_id: f.text(),
    /** The project its tasks and rules are in (the repository's folder name unless set). */
    project: f.text({ default: "''" }),
    /** The repository root on the agent's machine: tool paths are matched relative to it. */
    repo_root: f.text({ default: "''" }),
    event_cursor: hidden(f.int({ default: 0 })),
    audit_cursor: hidden(f.int({ default: 0 })),
    message_cursor: f.int({ default: 0 }),
    /** The newest files it edited, repository-relative, oldest first (bounded). */
    edited: hidden(f.list(Type.String())),
    created_at: f.time(),
    /** The last hook that showed the agent at work (beside the instance's last_seen). */
    last_progress_at: f.time(),
    /** The newest edits refused to it (bounded): its digest says when each lease ends. */
    denied: hidden(f.list(Type.Object({ path: Type.String(), lease_id: Type.String() }))),
    /** The first event id its clone may lack: the newest one when it last synced, plus one (a `git pull` seen by PostToolUse; 0: none seen). A lease another agent let go from there may hide a change the clone lacks. */
    synced_event: hidden(f.int({ default: 0 })),
    /** Lines of news its last digest had no room for, full, oldest first (bounded): the next digest and `koor-cli digest` show them first. */
    held: hidden(f.list(Type.String())),
    /** Storage time until which a tool it started may run without a hook (a long shell command): its agent is not judged stale before it ('': none). */
    busy_until: hidden(f.text({ default: "''" })),
    /** Shell commands it started and has not ended (parallel calls: the first to end does not clear busy_until while another runs); below zero while an end is written before its start (a cluster), holding nothing. */
    busy_count: hidden(f.int({ default: 0 })),
    /** Files it was told to pull first, with the release it was told of (bounded): the same file goes through after, others released since its pull are still asked. */
    pull_warned: hidden(f.list(Type.Object({ path: Type.String(), event: Type.Integer() }))),
  },
  { indexes: [{ name: 'hook_sessions_instance', on: 'instance_id' }] },
);
export const HOOK_SESSIONS = HOOK_SESSION.table;
/** A hook_sessions row as the database returns it (its lists JSON text). */
export type HookSessionRow = Parameters<typeof HOOK_SESSION.decode>[0];

/**
 * Sessions that ended lately, and whose agent they were: a client may export a request's telemetry
 * after its session's end hook unbound it (Codex flushes its OTLP batch at exit, after SessionEnd),
 * and such a record is still its agent's. A row per session end, kept for
 * HOOK_SESSION_ENDED_KEEP_MS (a late export lands within seconds; the retention pass deletes older
 * ones); in the database, so the node an export lands on need not be the one the session ended on
 * (cluster mode).
 */
export const HOOK_SESSIONS_ENDED: Table = {
  name: 'hook_sessions_ended',
  columns: {
    session_id: { type: 'text', primaryKey: true },
    instance_id: { type: 'text' },
    project: { type: 'text', default: "''" },
    /** Storage time of its end: the retention pass deletes rows older than HOOK_SESSION_ENDED_KEEP_MS. */
    ended_at: { type: 'text' },
  },
  indexes: [{ name: 'hook_sessions_ended_at', on: 'ended_at' }],
};

/** How long a session's end is remembered for its late telemetry, ms. */
export const HOOK_SESSION_ENDED_KEEP_MS = 10 * 60_000;
