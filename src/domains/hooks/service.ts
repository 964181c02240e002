import type { HookSession, LeaseRow } from '../../../schemas/rpc/writer.js';
import { fail } from '../../errors.js';
import { checkName, checkProject } from '../../names.js';
import { DIGEST_TOKENS, HOOK_CURSOR_LAG, HOOK_LATE_MS, HOOK_SCAN_AUDIT, HOOK_SCAN_EVENTS, HOOK_SCAN_MESSAGES, HOOK_SESSIONS_REMEMBERED, ORIENTATION_TOKENS, PROJECT_MAX_BYTES } from '../../shared/limits-features.js';
import { inScope, permitTargets } from '../../access.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { HOOK_HELD_LINE_CHARS, HOOK_HELD_LINES, type HookBusy } from '../../../schemas/rpc/writer-hooks.js';
import { busyChange, derivedName, EDIT_TOOLS, ownerOf, repoRelative, SHELL_TOOL, type HookCaller, type HookContext, type HookInput } from './input.js';
import { literalPathGlob } from '../../shared/path-glob.js';
import { folderOf, projectOf } from '../../shared/workspace.js';
import { checkFields, clipUtf8 } from '../instances/fields.js';
import { HOOK_SESSION } from '../../../schemas/db/tables/hooks.js';
import type { InstanceReader } from '../instances/reader.js';
import type { LeaseService } from '../leases/service.js';
import { LEASE } from '../../../schemas/db/tables/leases.js';
import type { Lease } from '../../../schemas/http/leases.js';
import type { MessageReader } from '../messages/reader.js';
import type { TaskReader } from '../tasks/reader.js';
import { digestFit, digestLines, digestText, withHeld, type Me } from './digest.js';
import { changedSincePull, noteSync, pullFirstReason } from './pull-first.js';
import type { HookReader } from './reader.js';
import { setBounded } from '../../shared/bounded.js';
import { withMembers } from '../../raw-json.js';

/** Lines a digest had no room for, as the session holds them: the oldest, each within its bound. */
const heldOf = (lines: readonly string[]): string[] => lines.slice(0, HOOK_HELD_LINES).map((l) => (l.length > HOOK_HELD_LINE_CHARS ? `${l.slice(0, HOOK_HELD_LINE_CHARS - 1)}…` : l));
/** `m.set(k, v)`, the map forgotten first when it holds HOOK_SESSIONS_REMEMBERED entries. */
const keepPerSession = <V>(m: Map<string, V>, k: string, v: V): void => setBounded(m, k, v, HOOK_SESSIONS_REMEMBERED);

type Output = Record<string, unknown>;
const NOTHING: Output = {};

/**
 * Events retention pruned after a session's cursor before it read them (a long silence on a busy
 * log): the digest says how many rather than skipping them silently.
 */
const prunedAfter = (oldestEvent: number, cursor: number): number => Math.max(0, oldestEvent - cursor - 1);

/** `HH:MM UTC` of a lease's RFC 3339 time. */
const clock = (rfc: string): string => `${rfc.slice(11, 16)} UTC`;

/** The reason of a lease an edit hook takes (it ends after an idle lifetime). */
const AUTO_LEASE_REASON = 'editing (auto-lease)';

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
  /** How far this node has read the event log and audit log for a session's digests (see gather). */
  private readonly scanned = new Map<string, { event: number; audit: number }>();
  readonly stats = { calls: new Map<string, number>(), denied: 0, pull_first: 0, auto_leased: 0, digests: 0, bound: 0 };

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
      /** A session's progress is written at most this often (touchIntervalMs of the liveness timeout). */
      touchMs: number;
      log: Logger;
    },
  ) {}

  async handle(input: HookInput, ctx: HookContext): Promise<Output> {
    const event = input.hook_event_name;
    this.stats.calls.set(event, (this.stats.calls.get(event) ?? 0) + 1);
    if (event === 'SessionEnd') {
      const known = await this.d.reader.session(input.session_id);
      if (known) await this.permitDrive(known, ctx.caller);
      return this.end(input.session_id);
    }
    const late = (): boolean => performance.now() - ctx.arrivedMs > HOOK_LATE_MS;
    const s = await this.bind(input, ctx);
    const busy = busyChange(input, s);
    if (busy === null) this.progress(s);
    else await this.busy(s, busy);
    switch (event) {
      case 'PreToolUse':
        return this.guard(s, input, ctx.caller);
      case 'SessionStart':
        return this.orientation(s, event, late);
      case 'UserPromptSubmit':
        return this.news(s, event, null, late);
      case 'PostToolUse':
        await noteSync(this.d, s, input.tool_name === SHELL_TOOL ? input.tool_input?.command : undefined);
        return this.news(s, event, this.editedPath(s, input), late);
      case 'Stop':
        // Never keeps a session from stopping twice in a row (`stop_hook_active`): at most one more turn per stop.
        return input.stop_hook_active === true ? NOTHING : this.news(s, event, null, late);
      default:
        return NOTHING;
    }
  }

  /** The session's binding (made at its first hook: an instance registered and activated for it). */
  private async bind(input: HookInput, ctx: HookContext): Promise<HookSession> {
    const known = await this.d.reader.session(input.session_id);
    if (known) {
      await this.permitDrive(known, ctx.caller);
      return known;
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
    return r.session;
  }

  /** A sign of life and progress, at most one write per session per interval (fire and forget). */
  private progress(s: HookSession): void {
    const now = Date.now();
    if (now - (this.lastProgress.get(s.session_id) ?? 0) < this.d.touchMs) return;
    keepPerSession(this.lastProgress, s.session_id, now);
    this.d.writer.call('hooks.progress', { session_id: s.session_id }).catch((err: unknown) => this.d.log.debug({ err, session: s.session_id }, 'hook progress not recorded'));
  }

  /**
   * A shell command starts (its agent may run no hook until it ends: not stale before then) or
   * ends. Written before the hook answers, so the liveness check sees it; a failed write is only
   * logged (a hook must not fail for it).
   */
  private async busy(s: HookSession, busy: HookBusy): Promise<void> {
    keepPerSession(this.lastProgress, s.session_id, Date.now());
    await this.d.writer.call('hooks.progress', { session_id: s.session_id, busy }).catch((err: unknown) => this.d.log.warn({ err, session: s.session_id }, 'shell command not recorded as running'));
  }

  private async me(s: HookSession): Promise<Me> {
    let b = this.bound.get(s.session_id);
    // Bound anew (its agent was deregistered by hand, and its next hook registered another): that one.
    if (b?.instanceId !== s.instance_id) {
      const i = await this.d.instances.get(s.instance_id);
      b = { instanceId: s.instance_id, name: i?.name ?? '', tokenId: i?.token_id ?? '' };
      keepPerSession(this.bound, s.session_id, b);
    }
    return { id: b.instanceId, name: b.name, project: s.project };
  }

  private editedPath(s: HookSession, input: HookInput): string | null {
    const field = input.tool_name !== undefined ? EDIT_TOOLS[input.tool_name] : undefined;
    const file = field !== undefined ? input.tool_input?.[field] : undefined;
    if (typeof file !== 'string' || s.repo_root === '') return null;
    return repoRelative(s.repo_root, input.cwd ?? '', file);
  }

  /**
   * PreToolUse of an edit: refused when another agent holds an exclusive lease on the file; with
   * `auto-lease`, the first edit of a file nobody leases takes an exclusive lease on it for this
   * agent, held until it has not edited the file for `autoLeaseIdleMs` (each edit of it renews
   * the lease; 0: while it lives) and released when its session ends or it goes stale.
   */
  private async guard(s: HookSession, input: HookInput, caller: HookCaller): Promise<Output> {
    const rel = this.editedPath(s, input);
    if (rel === null) return NOTHING;
    const me = await this.me(s);
    const leases = await this.d.leases.check(s.project, rel);
    const blocking = leases.find((l) => l.holder !== me.id && l.exclusive);
    if (blocking) return this.deny(me, rel, blocking, input.tool_name ?? '', s.session_id);
    // Free to edit, but maybe not on a fresh copy: pull first (pull-first.ts).
    const changed = await changedSincePull(this.d, s, me.id, rel, HOOK_SCAN_EVENTS);
    if (changed !== null) {
      this.stats.pull_first++;
      return { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: pullFirstReason(rel, changed) } };
    }
    if (this.d.edits !== 'auto-lease') return NOTHING;
    const mine = leases.find((l) => l.holder === me.id && l.reason === AUTO_LEASE_REASON && l.expires_at !== '');
    if (mine) {
      // Another edit of a file it auto-leased: its idle lifetime runs from now again.
      await this.d.writer.call('leases.renew', { id: mine.id, holder: me.id }).catch((err: unknown) => this.d.log.debug({ err, lease: mine.id }, 'auto-lease renewal failed'));
      return NOTHING;
    }
    if (leases.length > 0) return NOTHING;
    // A scoped token's agent leases only files its scopes reach; others it edits unleased.
    if (caller.scopes !== null && !inScope(caller.scopes, { kind: 'path', name: rel, project: s.project })) return NOTHING;
    const r = await this.d.writer.call(
      'leases.acquire',
      { holder: me.id, project: s.project, resources: [literalPathGlob(rel)], exclusive: true, ttl_ms: this.d.autoLeaseIdleMs, reason: AUTO_LEASE_REASON, auto: true },
      { audit: { actor: me.name } },
    );
    if ('conflict' in r) {
      // Taken by another agent between the check and the acquire.
      const other = r.conflict.leases.find((l: LeaseRow) => l.holder !== me.id);
      if (other) return this.deny(me, rel, LEASE.wire(other), input.tool_name ?? '', s.session_id);
      return NOTHING;
    }
    this.stats.auto_leased++;
    return NOTHING;
  }

  /**
   * The refusal of an edit, answered without waiting for its record (the `lease.denied` event, its
   * audit entry, the session's list of refusals its digest watches): the decision was read; a
   * writer that is slow, full or restarting must not turn it into a failed hook, which the client
   * takes as no objection and lets the edit through.
   */
  private deny(me: Me, rel: string, lease: Pick<Lease, 'id' | 'holder' | 'holder_name' | 'reason' | 'acquired_at'>, tool: string, sessionId: string): Output {
    this.stats.denied++;
    this.d.writer
      .call('hooks.denied', { agent: me.id, agent_name: me.name, path: rel, lease_id: lease.id, holder: lease.holder, holder_name: lease.holder_name, tool, project: me.project, session_id: sessionId }, { audit: { actor: me.name } })
      .catch((err: unknown) => this.d.log.warn({ err, session: sessionId, path: rel }, 'edit refusal not recorded'));
    const why = lease.reason !== '' ? ` (${JSON.stringify(lease.reason)})` : '';
    return {
      hookSpecificOutput: {
        hookEventName: 'PreToolUse',
        permissionDecision: 'deny',
        permissionDecisionReason:
          `Koor: ${rel} is leased by agent ${lease.holder_name} since ${clock(lease.acquired_at)}${why}. Do not edit it now: work on other files, ` +
          `or ask them: koor-cli send ${lease.holder_name} "<your request>". Check again: koor-cli lease check ${rel}`,
      },
    };
  }

  /**
   * The news after a session's cursors: its unread messages after the message cursor, and the
   * events and audit entries a digest reads after the event and audit cursors — or after what
   * this node already scanned for the session (`scanned`), so a quiet session on a busy bus does
   * not read the same stretch of the log at every hook. `*Through`: how far the scans reached.
   */
  private async gather(s: HookSession, me: Me) {
    const hint = this.scanned.get(s.session_id);
    const eventFrom = Math.max(s.event_cursor, hint?.event ?? 0);
    const auditFrom = Math.max(s.audit_cursor, hint?.audit ?? 0);
    const [newestEvent, newestAudit, oldestEvent] = await Promise.all([this.d.reader.newestEvent(), this.d.reader.newestAudit(), this.d.reader.oldestEvent()]);
    const [messages, events, audit] = await Promise.all([
      this.d.messages.inbox(me.id, { since: s.message_cursor, unread: true, thread: null, limit: HOOK_SCAN_MESSAGES }),
      this.d.reader.eventsAfter(eventFrom, newestEvent, HOOK_SCAN_EVENTS),
      this.d.reader.auditAfter(auditFrom, newestAudit, HOOK_SCAN_AUDIT),
    ]);
    const eventThrough = events.length === HOOK_SCAN_EVENTS ? events.at(-1)!.id : Math.max(eventFrom, newestEvent);
    const auditThrough = audit.length === HOOK_SCAN_AUDIT ? audit.at(-1)!.id : Math.max(auditFrom, newestAudit);
    return { messages, events, audit, eventThrough, auditThrough, missed: prunedAfter(oldestEvent, eventFrom) };
  }

  /** What concerns the agent since its last digest, as this event's output; nothing when nothing does. */
  private async news(s: HookSession, event: string, edited: string | null, late: () => boolean): Promise<Output> {
    const me = await this.me(s);
    const g = await this.gather(s, me);
    const editedNow = edited !== null && !s.edited.includes(edited) ? edited : null;
    const fresh = digestLines({ me, messages: g.messages, events: g.events, audit: g.audit, edited: editedNow === null ? s.edited : [...s.edited, editedNow], denied: s.denied, missed: g.missed });
    // The cursors move past all the news read; what the text has no room for is held for the next digest.
    const lines = withHeld(s.held, fresh);
    const { text, shown } = digestFit(lines, DIGEST_TOKENS);
    const cursors = { event_cursor: g.eventThrough, audit_cursor: g.auditThrough, message_cursor: g.messages.at(-1)?.id ?? s.message_cursor };
    // Written with news; a quiet session's cursors now and then, so another node or a restart starts near the end.
    const lagging = g.eventThrough - s.event_cursor >= HOOK_CURSOR_LAG || g.auditThrough - s.audit_cursor >= HOOK_CURSOR_LAG;
    if (text !== null || lagging || editedNow !== null) {
      await this.d.writer.call('hooks.advance', {
        session_id: s.session_id,
        ...(text !== null || lagging ? cursors : {}),
        ...(editedNow !== null ? { edited: editedNow } : {}),
        // Answered late, the client may not read it: all of it is held, to be shown again.
        ...(text !== null ? { held: heldOf(late() ? lines : lines.slice(shown)) } : {}),
      });
    }
    // Only once the cursors are written: a failed write leaves the news for the next hook.
    keepPerSession(this.scanned, s.session_id, { event: g.eventThrough, audit: g.auditThrough });
    if (text === null) return NOTHING;
    this.stats.digests++;
    if (event === 'Stop') return { decision: 'block', reason: text };
    return { hookSpecificOutput: { hookEventName: event, additionalContext: text } };
  }

  /**
   * SessionStart: who else works in this repository, what they hold, what is ready to claim, what
   * is unread — within ORIENTATION_TOKENS, and nothing when there is none of it.
   */
  private async orientation(s: HookSession, event: string, late: () => boolean): Promise<Output> {
    const me = await this.me(s);
    const [instances, leases, tasks, unread] = await Promise.all([
      this.d.instances.list({}),
      this.d.leases.list({ holder: null, project: me.project, resource: null, limit: 50 }),
      this.d.tasks.list({ project: me.project, statuses: ['ready'], claimedBy: null, after: 0, limit: 4 }),
      this.d.messages.inbox(me.id, { since: 0, unread: true, thread: null, limit: HOOK_SCAN_MESSAGES }),
    ]);
    const lines: string[] = [];
    const others = instances.filter((i) => i.id !== me.id && i.status !== 'stale' && projectOf(i.workspace) === me.project);
    if (others.length > 0) lines.push(`Also working in this repository: ${others.slice(0, 4).map((i) => (i.intent ? `${i.name} (${JSON.stringify(i.intent.slice(0, 60))})` : i.name)).join(', ')}${others.length > 4 ? ` and ${others.length - 4} more` : ''}.`);
    const held = leases.filter((l) => l.holder !== me.id);
    if (held.length > 0) lines.push(`Files leased by others (edits to them are refused): ${held.slice(0, 4).map((l) => `${l.resources.slice(0, 3).join(', ')} (${l.holder_name})`).join('; ')}${held.length > 4 ? ` and ${held.length - 4} more: koor-cli lease list` : ''}.`);
    if (tasks.length > 0) lines.push(`Tasks ready in ${me.project}: ${tasks.slice(0, 3).map((t) => `#${t.id} ${JSON.stringify(t.title.slice(0, 60))}`).join('; ')}. Claim one: koor-cli task claim ${me.project}`);
    const news = digestLines({ me, messages: unread, events: [], audit: [], edited: [] });
    lines.push(...news);
    if (lines.length === 0) return NOTHING;
    lines.push(`Message an agent: koor-cli send <name> "<text>".`);
    const { text, shown } = digestFit(lines, ORIENTATION_TOKENS, `Koor: you are agent ${me.name} (project ${me.project}).`);
    // Unread messages it had no room for are held for the next digest (their cursor moves past them).
    const later = heldOf(late() ? news : news.filter((l) => lines.indexOf(l) >= shown));
    if (unread.length > 0) await this.d.writer.call('hooks.advance', { session_id: s.session_id, message_cursor: unread.at(-1)!.id, ...(later.length > 0 ? { held: later } : {}) });
    this.stats.digests++;
    return { hookSpecificOutput: { hookEventName: event, additionalContext: text! } };
  }

  /** Refuses a caller that may not drive this session: not the operator, its agent, or the token that bound it. */
  private async permitDrive(s: HookSession, caller: HookCaller): Promise<void> {
    if (caller.role === 'admin' || caller.instanceId === s.instance_id) return;
    const owner = ownerOf(caller);
    if (owner !== null) {
      await this.me(s);
      if (this.bound.get(s.session_id)?.tokenId === owner) return;
    }
    throw fail('ROLE_FORBIDDEN', caller.role, "call hooks for another agent's session");
  }

  /** SessionEnd: the session's instance is deregistered, its leases (auto-leases included) and claimed tasks let go. */
  private async end(sessionId: string): Promise<Output> {
    this.bound.delete(sessionId);
    this.lastProgress.delete(sessionId);
    this.scanned.delete(sessionId);
    if (!(await this.d.reader.session(sessionId))) return NOTHING;
    await this.d.writer.call('hooks.end', { session_id: sessionId }, { audit: { actor: '' } }).catch((e: unknown) => {
      if ((e as { status?: string }).status === 'NOT_FOUND') return null; // ended on another node meanwhile
      throw e;
    });
    return NOTHING;
  }

  /**
   * `GET /api/agents/{id}/digest`: what a digest would tell the agent now (since its session's
   * cursors; without a hook session, its unread messages and the recent log). Changes nothing.
   */
  async digestOf(instanceId: string): Promise<string> {
    const i = await this.d.instances.get(instanceId);
    if (!i) throw fail('INSTANCE_NOT_FOUND', instanceId);
    const s = await this.d.reader.sessionOf(instanceId);
    const recent = async (newest: Promise<number> | number) => Math.max(0, (await newest) - HOOK_SCAN_AUDIT);
    const cursors = s ?? { event_cursor: await recent(this.d.reader.newestEvent()), audit_cursor: await recent(this.d.reader.newestAudit()), message_cursor: 0, edited: [], project: projectOf(i.workspace), repo_root: i.workspace };
    const me: Me = { id: i.id, name: i.name, project: cursors.project };
    // The events pruned past a cursor are a session's to be told of: without one, none is read.
    const [newestEvent, newestAudit, oldestEvent] = await Promise.all([this.d.reader.newestEvent(), this.d.reader.newestAudit(), s ? this.d.reader.oldestEvent() : 0]);
    const [messages, events, audit] = await Promise.all([
      this.d.messages.inbox(me.id, { since: cursors.message_cursor, unread: true, thread: null, limit: HOOK_SCAN_MESSAGES }),
      this.d.reader.eventsAfter(cursors.event_cursor, newestEvent, HOOK_SCAN_EVENTS),
      this.d.reader.auditAfter(cursors.audit_cursor, newestAudit, HOOK_SCAN_AUDIT),
    ]);
    const lines = withHeld(s?.held ?? [], digestLines({ me, messages, events, audit, edited: cursors.edited, denied: s?.denied ?? [], missed: s ? prunedAfter(oldestEvent, s.event_cursor) : 0 }));
    return JSON.stringify({ agent: i.id, name: i.name, text: digestText(lines, DIGEST_TOKENS), lines });
  }

  /** The binding of a session, for the CLI's wake-up hook (which needs the session's agent and where its digests stand). */
  async session(id: string): Promise<string> {
    const s = await this.d.reader.session(id);
    if (!s) throw fail('HOOK_SESSION_NOT_FOUND', id);
    const me = await this.me(s);
    return withMembers(HOOK_SESSION.json(s), `"name":${JSON.stringify(me.name)}`);
  }
}
