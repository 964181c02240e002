import { Type, type Static } from '../typebox.js';
import type { MethodTable } from './envelope.js';
import { HOOK_SESSION } from '../db/tables/hooks.js';
import { Events, Instance } from './writer-rows.js';

/** The coding-agent hooks' writer methods, part of WriterMethods (schemas/rpc/writer.ts). */

/** A session bound to its agent instance (schemas/db/tables/hooks.ts); times storage text. */
export const HookSession = HOOK_SESSION.Row;
export type HookSession = Static<typeof HookSession>;

const SessionId = Type.String({ minLength: 1, maxLength: 200 });
/**
 * Lines of news a hook session holds for its next digest when one had no room for them (the
 * oldest; past this the rest go). Eleven kinds of line exist; a digest shows ~3.
 */
export const HOOK_HELD_LINES = 8;
/** One held line, characters (a line is a few items of at most ~100 characters each). */
export const HOOK_HELD_LINE_CHARS = 4000;

/** The longest a session is held busy by one tool (the client's own limit for a shell command is 10 min). */
export const HOOK_BUSY_MAX_MS = 3_600_000;

/** A change of what a session runs (hooks.progress). */
export const HookBusy = Type.Union([Type.Object({ ms: Type.Integer({ minimum: 1, maximum: HOOK_BUSY_MAX_MS }) }), Type.Literal('end'), Type.Literal('clear')]);
export type HookBusy = Static<typeof HookBusy>;

export const HookMethods = {
  /**
   * The session's binding, made at its first hook: registers and activates an instance (name,
   * workspace) and stores the session with cursors at the newest event, audit entry and message,
   * so its first digest tells only what happens from now on (the session start tells the rest).
   * A session already bound to a live instance gets its binding back (`created` false).
   */
  'hooks.bind': {
    req: Type.Object({
      session_id: SessionId,
      client: Type.String({ minLength: 1 }),
      name: Type.String({ minLength: 1 }),
      workspace: Type.String(),
      project: Type.String(),
      repo_root: Type.String(),
      /** The created token binding it: it may act as the new agent. */
      token_id: Type.Optional(Type.String()),
    }),
    res: Type.Object({ session: HookSession, instance: Instance, created: Type.Boolean() }),
  },
  /**
   * A sign of life and of progress: the session's last_progress_at, its instance back to active
   * if it had gone stale, its TTL leases renewed (as a heartbeat does). With `busy`, the
   * session's row alone (its last_progress_at with it): a shell command starts and may run `ms`
   * without a hook, so its agent is not judged stale before then (the latest end of the commands
   * running); `end`: one ended (the hold lasts while another runs); `clear`: none runs (the turn stopped).
   */
  'hooks.progress': {
    req: Type.Object({ session_id: SessionId, busy: Type.Optional(HookBusy) }),
    res: Type.Object({ found: Type.Boolean() }),
  },
  /** What the session's digests have told (cursors move forward only) and a file it edited. */
  'hooks.advance': {
    req: Type.Object({
      session_id: SessionId,
      event_cursor: Type.Optional(Type.Integer({ minimum: 0 })),
      audit_cursor: Type.Optional(Type.Integer({ minimum: 0 })),
      message_cursor: Type.Optional(Type.Integer({ minimum: 0 })),
      edited: Type.Optional(Type.String({ minLength: 1 })),
      /** Its clone synced (a `git pull`): the first event id it may lack; moves forward only. */
      synced_event: Type.Optional(Type.Integer({ minimum: 0 })),
      /** The lines this digest had no room for (replacing those held; [] clears them). */
      held: Type.Optional(Type.Array(Type.String({ maxLength: HOOK_HELD_LINE_CHARS }), { maxItems: HOOK_HELD_LINES })),
      /** It was told to pull first before editing `path`, of the release at event `event`. */
      pull_warned: Type.Optional(Type.Object({ path: Type.String({ minLength: 1 }), event: Type.Integer({ minimum: 0 }) })),
    }),
    res: Type.Object({ found: Type.Boolean() }),
  },
  /**
   * Retention: up to `chunk` sessions whose agent is stale and was last seen before `before` (a
   * client killed without SessionEnd) ended as SessionEnd ends one: the agent deregistered.
   */
  'hooks.prune_stale': {
    req: Type.Object({ before: Type.String(), chunk: Type.Integer({ minimum: 1 }) }),
    res: Type.Object({ ended: Type.Array(Type.String()), events: Events, more: Type.Boolean() }),
  },
  /** The session ended: its instance is deregistered (leases and claimed tasks let go, `events`) and the binding dropped. */
  'hooks.end': {
    req: Type.Object({ session_id: SessionId }),
    res: Type.Object({ instance_id: Type.String(), events: Events }),
  },
  /**
   * An edit a hook refused because another agent's exclusive lease covers the file: one
   * `lease.denied` event (ids, names and the path), audited by the caller's tag.
   */
  'hooks.denied': {
    req: Type.Object({
      agent: Type.String(),
      agent_name: Type.String(),
      path: Type.String(),
      lease_id: Type.String(),
      holder: Type.String(),
      holder_name: Type.String(),
      tool: Type.String(),
      /** The project of the file refused: the session's, and so the lease's. */
      project: Type.Optional(Type.String()),
      /** The session refused (its digest tells when the lease ends). */
      session_id: Type.Optional(SessionId),
    }),
    res: Type.Object({ events: Events }),
  },
} satisfies MethodTable;
