import type { HookSession } from '../../../schemas/rpc/writer.js';
import { fail } from '../../errors.js';
import { checkName, checkProject } from '../../names.js';
import { dataNow } from '../../../schemas/db/time.js';
import { DIGEST_TOKENS, HOOK_CURSOR_LAG, HOOK_LATE_MS, HOOK_SESSIONS_REMEMBERED, PROJECT_MAX_BYTES } from '../../shared/limits-features.js';
import { permitTargets } from '../../access.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import type { HookBusy } from '../../../schemas/rpc/writer-hooks.js';
import { derivedName, drives, editedPath, NOTHING, ownerOf, SHELL_TOOL, type HookCaller, type HookContext, type HookInput, type HookOutput } from './input.js';
import { folderOf } from '../../shared/workspace.js';
import { checkFields, clipUtf8 } from '../instances/fields.js';
import { HOOK_SESSION } from '../../../schemas/db/tables/hooks.js';
import type { InstanceReader } from '../instances/reader.js';
import type { LeaseService } from '../leases/service.js';
import type { MessageReader } from '../messages/reader.js';
import type { TaskReader } from '../tasks/reader.js';
import { digestFit, digestLines, heldOf, withHeld, type Me } from './digest.js';
import { ConcernIndex, quietThrough } from './concern-index.js';
import { digestOf, orientationOf } from './briefing.js';
import { notChangedSincePull, noteSync, syncs, type PullDeps } from './pull-first.js';
import type { HookProbe, HookReader } from './reader.js';
import { setBounded } from '../../shared/bounded.js';
import { withMembers } from '../../raw-json.js';
import type { NewsClock, NewsMark } from './news-clock.js';
import { gather } from './gather.js';
import { SessionCache } from './sessions.js';
import { Shells } from './shells.js';
import type { OwnLease } from './edit-leases.js';
import { EditGuard } from './guard.js';
import type { Hub } from '../../bus/hub.js';

/** `m.set(k, v)`, the map forgotten first when it holds HOOK_SESSIONS_REMEMBERED entries. */
const keepPerSession = <V>(m: Map<string, V>, k: string, v: V): void => setBounded(m, k, v, HOOK_SESSIONS_REMEMBERED);

/** A session's agent as its digests name it: its binding's instance and name, the session's project. */
const meOf = (b: { instanceId: string; name: string }, s: HookSession): Me => ({ id: b.instanceId, name: b.name, project: s.project });
/**
 * Coding-agent hooks: one endpoint takes every hook event of a session, binds the
 * session to an agent instance at its first hook, guards edits against other agents' leases
 * before they happen, and answers the model with a digest of what concerns it — only when
 * something does. Every hook is a sign of life and of progress.
 */
export class HookService {
  /** Sessions this node has seen bound: session id → instance (dropped at its end; replaced when the session was bound anew). */
  private readonly bound = new Map<string, { instanceId: string; name: string; tokenId: string }>();
  private readonly lastProgress = new Map<string, number>();
  /** How far this node has read the event log and audit log for a session's digests (see gather), and where the news clock stood then. */
  private readonly scanned = new Map<string, { event: number; audit: number; mark: NewsMark | undefined }>();
  private readonly sessions: SessionCache;
  private readonly shells: Shells;
  /** Edits: refused, auto-leased, asked to pull first; the leases this node's sessions hold on files they edit. */
  private readonly edit: EditGuard;
  /** What pull-first reads and writes with. */
  private readonly pull: PullDeps;
  /** Whom the events the clock keeps may concern (where there is a clock). */
  private readonly concerns: ConcernIndex | null;
  readonly stats = { calls: new Map<string, number>(), denied: 0, unconfirmed: 0, pull_first: 0, auto_leased: 0, digests: 0, bound: 0, quiet: 0, kept: 0 };

  constructor(
    private readonly d: {
      reader: HookReader;
      messages: MessageReader;
      instances: InstanceReader;
      tasks: TaskReader;
      leases: LeaseService;
      writer: WriterClient;
      /** An instance a binding registered, for the identity index (its token and id work at once). */
      remember: (r: { id: string; name: string; token_hash: string; token_id: string }) => void;
      edits: 'deny' | 'auto-lease';
      /** An auto-lease's idle lifetime, ms (0 = the session's life). */
      autoLeaseIdleMs: number;
      /** A session's progress is written at most this often (touchIntervalMs of the liveness timeout); a shell command's start once it has waited this long. */
      touchMs: number;
      /** What this node knows of the news without reading it: null where it cannot know it (a cluster, news-clock.ts), and sessions are read at every hook. */
      clock: NewsClock | null;
      /** Where there is no clock (a cluster): the events the event feed published, a digest's read from them when it has them all (NewsClock.listenFeed). */
      feed: NewsClock | null;
      hub: Hub;
      log: Logger;
    },
  ) {
    const exact = d.clock !== null;
    const clock = d.clock;
    this.pull = { reader: d.reader, writer: d.writer, newestDigestEvent: clock ? () => clock.newestDigestEvent() : null };
    this.concerns = clock && ConcernIndex.of(clock);
    this.sessions = new SessionCache(d.reader, exact);
    this.edit = new EditGuard(d, { exact, pull: this.pull, sessions: this.sessions, stats: this.stats });
    this.shells = new Shells((id, busy) => this.markBusy(id, busy), d.touchMs, !exact);
    d.writer.onUncertain(() => {
      this.sessions.clear();
      this.edit.own.clear();
    });
  }

  /** Its agent was deregistered or is forgotten (on any node): its sessions' copies go. */
  forgetInstance(instanceId: string): void {
    this.sessions.dropInstance(instanceId);
  }

  /** Writes the shell commands not yet written (the server closes). */
  close(): Promise<void> {
    return this.shells.close();
  }

  /**
   * `handle`'s answer to a hook that says nothing to the model and writes nothing on its path —
   * the edit of a file its agent leases, any other tool, the report of a tool, a turn with no news
   * — from what this node keeps: no read, no promise. Undefined when any of it is not kept here (a
   * cluster, a session or lease not seen since it was written, a release since the clone's pull,
   * news, a git pull to note): `handle` then.
   */
  quick(input: HookInput, caller: HookCaller): HookOutput | undefined {
    const event = input.hook_event_name;
    if (this.d.clock === null || event === 'SessionStart' || event === 'SessionEnd') return undefined;
    const s = this.sessions.kept(input.session_id);
    const b = s && this.bound.get(s.session_id);
    if (s === undefined || b?.instanceId !== s.instance_id || !drives(caller, s.instance_id, b.tokenId)) return undefined;
    const rel = editedPath(s, input);
    let own: OwnLease | undefined;
    if (event === 'PreToolUse' && rel !== null) {
      own = this.edit.own.get(s.session_id, rel, dataNow());
      if (own === undefined || !notChangedSincePull(this.pull, s, rel)) return undefined;
    } else if (event === 'PostToolUse' || event === 'UserPromptSubmit' || (event === 'Stop' && input.stop_hook_active !== true)) {
      // A git pull to note is read and written.
      if (event === 'PostToolUse' && input.tool_name === SHELL_TOOL && syncs(input.tool_input?.command)) return undefined;
      if (!this.quiet(s, meOf(b, s), event === 'PostToolUse' ? rel : null)) return undefined;
    }
    this.stats.calls.set(event, (this.stats.calls.get(event) ?? 0) + 1);
    this.stats.kept++;
    this.progress(s);
    void this.shells.note(s, input);
    if (own?.auto && this.d.edits === 'auto-lease') this.edit.own.renew(own, b.instanceId);
    return NOTHING;
  }

  async handle(input: HookInput, ctx: HookContext): Promise<HookOutput> {
    const event = input.hook_event_name;
    this.stats.calls.set(event, (this.stats.calls.get(event) ?? 0) + 1);
    if (event === 'SessionEnd') {
      const known = await this.sessions.fresh(input.session_id);
      if (known) await this.permitDrive(known, ctx.caller);
      return this.end(input.session_id);
    }
    const late = (): boolean => performance.now() - ctx.arrivedMs > HOOK_LATE_MS;
    const { s, probe } = await this.bind(input, ctx);
    this.progress(s);
    // Kept by Shells, which writes a command once it has run long enough to matter (off the agent's path).
    void this.shells.note(s, input);
    switch (event) {
      case 'PreToolUse': {
        const rel = editedPath(s, input);
        return rel === null ? NOTHING : this.edit.guard(s, await this.me(s), rel, input.tool_name ?? '', ctx.caller);
      }
      case 'SessionStart':
        return this.orientation(s, event, late);
      case 'UserPromptSubmit':
        return this.news(s, event, null, late, probe);
      case 'PostToolUse':
        if (await noteSync(this.pull, s, input.tool_name === SHELL_TOOL ? input.tool_input?.command : undefined)) this.sessions.drop(s.session_id);
        return this.news(s, event, editedPath(s, input), late, probe);
      case 'Stop':
        // Never keeps a session from stopping twice in a row (`stop_hook_active`): at most one more turn per stop.
        return input.stop_hook_active === true ? NOTHING : this.news(s, event, null, late, probe);
      default:
        return NOTHING;
    }
  }

  /**
   * The session's binding (made at its first hook: an instance registered and activated for it).
   * Where rows are not kept (a cluster), read with what its digest would find (HookProbe).
   */
  private async bind(input: HookInput, ctx: HookContext): Promise<{ s: HookSession; probe: HookProbe | null }> {
    const id = input.session_id;
    let probe: HookProbe | null = null;
    let known: HookSession | undefined;
    if (this.d.clock === null) {
      const hint = this.scanned.get(id);
      probe = (await this.d.reader.probe(id, hint?.event ?? 0, hint?.audit ?? 0)) ?? null;
      known = probe?.session;
    } else known = await this.sessions.get(id);
    if (known) {
      await this.permitDrive(known, ctx.caller);
      return { s: known, probe };
    }
    const root = ctx.repoRoot || input.cwd || '';
    const repo = folderOf(root) || 'repo';
    const name = ctx.agentName || derivedName(ctx.client, repo, input.session_id);
    checkName(name, 'agent name');
    // As a registration is (an X-Koor-Agent-Name past the limit is refused; a made-up name fits).
    checkFields({ name, workspace: root });
    // The folder's name, when nothing names the project, is cut to a project name's limit (a named one is refused past it).
    const project = ctx.project || clipUtf8(repo, PROJECT_MAX_BYTES);
    checkProject(project, ctx.project ? 'project (X-Koor-Project)' : 'project (the repository folder)');
    permitTargets({ principal: { role: ctx.caller.role, scopes: ctx.caller.scopes } }, 'bind a coding-agent session', { kind: 'project', name: project });
    const r = await this.d.writer.call(
      'hooks.bind',
      // Its agent's workspace is its project: what its leases are in, what the dashboard lists.
      { session_id: input.session_id, client: ctx.client, name, workspace: project, project, repo_root: root, ...(ownerOf(ctx.caller) !== null ? { token_id: ownerOf(ctx.caller)! } : {}) },
      { audit: { actor: name } },
    );
    if (r.created) {
      this.stats.bound++;
      this.d.remember(r.instance);
    }
    return { s: r.session, probe: null };
  }

  /** A sign of life and progress, at most one write per session per interval (fire and forget). */
  private progress(s: HookSession): void {
    const now = Date.now();
    if (now - (this.lastProgress.get(s.session_id) ?? 0) < this.d.touchMs) return;
    keepPerSession(this.lastProgress, s.session_id, now);
    this.d.writer.call('hooks.progress', { session_id: s.session_id }, { lazy: true }).catch((err: unknown) => this.d.log.debug({ err, session: s.session_id }, 'hook progress not recorded'));
  }

  /** A change of the session's shell commands, written off the agent's path; a failed write is only logged. */
  private markBusy(id: string, busy: HookBusy): Promise<unknown> {
    return this.sessions.writing(id, () => this.d.writer.call('hooks.progress', { session_id: id, busy })).catch((err: unknown) => this.d.log.warn({ err, session: id }, 'shell command not recorded'));
  }

  private async me(s: HookSession): Promise<Me> {
    let b = this.bound.get(s.session_id);
    // Bound anew (its agent was deregistered by hand, and its next hook registered another): that one.
    if (b?.instanceId !== s.instance_id) {
      const i = await this.d.instances.get(s.instance_id);
      b = { instanceId: s.instance_id, name: i?.name ?? '', tokenId: i?.token_id ?? '' };
      keepPerSession(this.bound, s.session_id, b);
    }
    return meOf(b, s);
  }

  /**
   * What concerns the agent since its last digest, as this event's output; nothing when nothing
   * does. Nothing read when the news clock has not moved for it since this node last read its news
   * and nothing else is to be said or noted (the hook of a quiet turn); else from its row as stored.
   */
  private async news(cached: HookSession, event: string, edited: string | null, late: () => boolean, probe: HookProbe | null): Promise<HookOutput> {
    const me = await this.me(cached);
    if (this.quiet(cached, me, edited)) return NOTHING;
    const s = (await this.sessions.fresh(cached.session_id, cached)) ?? cached;
    const g = await gather(this.d, s, me, this.scanned.get(s.session_id), s === probe?.session ? probe : null);
    const editedNow = edited !== null && !s.edited.includes(edited) ? edited : null;
    const fresh = digestLines({ me, messages: g.messages, events: g.events, audit: g.audit, edited: editedNow === null ? s.edited : [...s.edited, editedNow], denied: s.denied, missed: g.missed });
    // The cursors move past all the news read; what the text has no room for is held for the next digest.
    const lines = withHeld(s.held, fresh);
    const { text, shown } = digestFit(lines, DIGEST_TOKENS);
    const cursors = { event_cursor: g.eventThrough, audit_cursor: g.auditThrough, message_cursor: g.messages.at(-1)?.id ?? s.message_cursor };
    // Written with news; a quiet session's cursors now and then, so another node or a restart starts near the end.
    const lagging = g.eventThrough - s.event_cursor >= HOOK_CURSOR_LAG || g.auditThrough - s.audit_cursor >= HOOK_CURSOR_LAG;
    if (text !== null || lagging || editedNow !== null) {
      const advance = (held: string[] | undefined) =>
        this.sessions.writing(s.session_id, () => this.d.writer.call('hooks.advance', { session_id: s.session_id, ...(text !== null || lagging ? cursors : {}), ...(editedNow !== null ? { edited: editedNow } : {}), ...(held ? { held } : {}) }));
      // Answered late, the client may not read it: all of it is held, to be shown again (also when the write made it late).
      const wasLate = late();
      await advance(text !== null ? heldOf(wasLate ? lines : lines.slice(shown)) : undefined);
      if (text !== null && !wasLate && late()) await advance(heldOf(lines));
    }
    // Only once the cursors are written: a failed write leaves the news for the next hook.
    keepPerSession(this.scanned, s.session_id, { event: g.eventThrough, audit: g.auditThrough, mark: g.mark });
    if (text === null) return NOTHING;
    this.stats.digests++;
    if (event === 'Stop') return { decision: 'block', reason: text };
    return { hookSpecificOutput: { hookEventName: event, additionalContext: text } };
  }

  /**
   * Whether nothing concerns the session since this node last read its news, known without a read
   * (quietThrough) — and nothing else is to be said or noted. Then where it read to moves past it.
   */
  private quiet(cached: HookSession, me: Me, edited: string | null): boolean {
    const hint = this.scanned.get(cached.session_id);
    if (!hint?.mark || cached.held.length > 0 || (edited !== null && !cached.edited.includes(edited))) return false;
    const through = quietThrough(this.d.clock!, this.concerns!, hint.mark, me, cached);
    if (through === null) return false;
    if (through > hint.mark.event) keepPerSession(this.scanned, cached.session_id, { ...hint, event: Math.max(hint.event, through), mark: { ...hint.mark, event: through } });
    this.stats.quiet++;
    return true;
  }

  /**
   * SessionStart: who else works in this repository, what they hold, what is ready to claim, what
   * is unread — within ORIENTATION_TOKENS, and nothing when there is none of it.
   */
  private async orientation(s: HookSession, event: string, late: () => boolean): Promise<HookOutput> {
    const me = await this.me(s);
    const o = await orientationOf(this.d, me);
    if (o === null) return NOTHING;
    // Unread messages it had no room for are held for the next digest (their cursor moves past them).
    const later = heldOf(late() ? o.news : o.news.filter((l) => o.lines.indexOf(l) >= o.shown));
    if (o.unread.length > 0) await this.sessions.writing(s.session_id, () => this.d.writer.call('hooks.advance', { session_id: s.session_id, message_cursor: o.unread.at(-1)!.id, ...(later.length > 0 ? { held: later } : {}) }));
    this.stats.digests++;
    return { hookSpecificOutput: { hookEventName: event, additionalContext: o.text } };
  }

  /** Refuses a caller that may not drive this session: not the operator, its agent, or the token that bound it. */
  private async permitDrive(s: HookSession, caller: HookCaller): Promise<void> {
    if (drives(caller, s.instance_id, null)) return;
    if (ownerOf(caller) !== null) {
      await this.me(s);
      if (drives(caller, s.instance_id, this.bound.get(s.session_id)?.tokenId ?? null)) return;
    }
    throw fail('ROLE_FORBIDDEN', caller.role, "call hooks for another agent's session");
  }

  /** SessionEnd: the session's instance is deregistered, its leases (auto-leases included) and claimed tasks let go. */
  private async end(sessionId: string): Promise<HookOutput> {
    this.bound.delete(sessionId);
    this.lastProgress.delete(sessionId);
    this.scanned.delete(sessionId);
    this.shells.forget(sessionId);
    if (!(await this.sessions.fresh(sessionId))) return NOTHING;
    await this.sessions.writing(sessionId, () => this.d.writer.call('hooks.end', { session_id: sessionId }, { audit: { actor: '' } })).catch((e: unknown) => {
      if ((e as { status?: string }).status === 'NOT_FOUND') return null; // ended on another node meanwhile
      throw e;
    });
    return NOTHING;
  }

  /** `GET /api/agents/{id}/digest` (briefing.ts). */
  digestOf(instanceId: string): Promise<string> {
    return digestOf(this.d, instanceId);
  }

  /** The binding of a session, for the CLI's wake-up hook (which needs the session's agent and where its digests stand). */
  async session(id: string): Promise<string> {
    const s = await this.d.reader.session(id);
    if (!s) throw fail('HOOK_SESSION_NOT_FOUND', id);
    const me = await this.me(s);
    return withMembers(HOOK_SESSION.json(s), `"name":${JSON.stringify(me.name)}`);
  }
}
