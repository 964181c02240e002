import type { Table } from '../table.js';

/**
 * A coding-agent session bound to the agent instance its hooks act as: Claude Code's
 * `session_id` → an instance registered at its first hook. The cursors say what the session's
 * digests have already told the model (news is what comes after them); `edited` the
 * repository-relative files it changed (the leases of others touching them are news). A row
 * goes with its instance (SessionEnd deregisters it; so does a deregistration by hand).
 */
export const HOOK_SESSIONS: Table = {
  name: 'hook_sessions',
  columns: {
    session_id: { type: 'text', primaryKey: true },
    /** `claude-code`, `cursor`, `codex`. */
    client: { type: 'text' },
    instance_id: { type: 'text' },
    /** The project its tasks and rules are in (the repository's folder name unless set). */
    project: { type: 'text', default: "''" },
    /** The repository root on the agent's machine: tool paths are matched relative to it. */
    repo_root: { type: 'text', default: "''" },
    event_cursor: { type: 'int', default: 0 },
    audit_cursor: { type: 'int', default: 0 },
    message_cursor: { type: 'int', default: 0 },
    /** JSON text: the newest files it edited, repository-relative, oldest first (bounded). */
    edited: { type: 'text', default: "'[]'" },
    created_at: { type: 'text' },
    /** The last hook that showed the agent at work (beside the instance's last_seen). */
    last_progress_at: { type: 'text' },
    /** JSON text: the newest edits refused to it, `[{"path","lease_id"}]` (bounded): its digest says when each lease ends. */
    denied: { type: 'text', default: "'[]'" },
    /** The first event id its clone may lack: the newest one when it last synced, plus one (a `git pull` seen by PostToolUse; 0: none seen). A lease another agent let go from there may hide a change the clone lacks. */
    synced_event: { type: 'int', default: 0 },
    /** JSON text: lines of news its last digest had no room for, full, oldest first (bounded): the next digest and `koor-cli digest` show them first. */
    held: { type: 'text', default: "'[]'" },
    /** Storage time until which a tool it started may run without a hook (a long shell command): its agent is not judged stale before it ('': none). */
    busy_until: { type: 'text', default: "''" },
    /** Shell commands it started and has not ended (parallel calls: the first to end does not clear busy_until while another runs). */
    busy_count: { type: 'int', default: 0 },
    /** JSON text: files it was told to pull first, `[{"path","event"}]` with the release it was told of (bounded): the same file goes through after, others released since its pull are still asked. */
    pull_warned: { type: 'text', default: "'[]'" },
  },
  indexes: [{ name: 'hook_sessions_instance', on: 'instance_id' }],
};

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
