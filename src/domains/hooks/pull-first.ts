import type { HookSession } from '../../../schemas/rpc/writer.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { pathGlobMatch } from '../../shared/path-glob.js';
import type { HookReader } from './reader.js';

/**
 * Pull first: a lease keeps two agents from editing a file at once, not from editing a
 * stale copy of it. A session's clone syncs when a Bash command runs `git pull`, `git rebase`,
 * `git merge` or `git reset` (seen by PostToolUse): a lease another agent gave up before that is
 * in the clone; one given up after it may hide a change the clone lacks (the swarm's one rebase
 * conflict under Koor). The sync point is the first event id the clone may lack (the newest id
 * then, plus one; 0: no sync seen — a fresh server's log may be empty at a sync), stored with the
 * session so every node of a cluster agrees.
 */
const GIT_SYNC = /\bgit\s+(?:-C\s+\S+\s+)?(?:pull|rebase|merge|reset)\b/;

export interface PullDeps {
  reader: HookReader;
  writer: WriterClient;
  /** The newest event of a digest's topics (lease releases among them) when this node sees every event as it is stored (one writer); null otherwise. */
  newestDigestEvent: (() => number) | null;
}

/** Whether a shell command (`command`: what it ran) syncs the clone. */
export const syncs = (command: unknown): boolean => typeof command === 'string' && GIT_SYNC.test(command);

/** A PostToolUse of a shell command (`command`: what it ran) that synced the clone: what ended before now is in it. True when the session's row changed. */
export async function noteSync(d: PullDeps, s: HookSession, command: unknown): Promise<boolean> {
  if (!syncs(command)) return false;
  const from = (await d.reader.newestEvent()) + 1;
  if (from <= s.synced_event) return false;
  await d.writer.call('hooks.advance', { session_id: s.session_id, synced_event: from });
  s.synced_event = from;
  return true;
}

/**
 * Who held `rel` exclusively and let it go (released, or its idle lifetime ran out: it may have
 * pushed a change) after the session's clone last synced; null when none or when no sync was seen
 * (a holder that died pushed nothing). Said once per file and release: the warning is remembered
 * for `rel` with that release (`pull_warned`), so the same edit again goes through (on any node),
 * while another file let go since the pull is still asked for — the warning used to move the
 * session's one sync point, which took every release before it as pulled. Reads at most the
 * `scan` newest events.
 */
export async function changedSincePull(d: PullDeps, s: HookSession, me: string, rel: string, scan: number): Promise<string | null> {
  const since = sincePull(s, rel);
  if (since === null || pulledSince(d, since)) return null;
  const newest = await d.reader.newestEvent();
  if (newest <= since) return null;
  const events = await d.reader.eventsAfter(Math.max(since, newest - scan), newest, scan);
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.topic !== 'lease.released') continue;
    const l = JSON.parse(e.data) as { holder: string; holder_name: string; resources: string[]; exclusive: boolean; reason: string; project?: string };
    // Another project's file of that path is another repository's (an event from before projects names none).
    if (l.holder === me || (l.project !== undefined && l.project !== s.project) || !l.exclusive || (l.reason !== 'released' && l.reason !== 'expired') || !l.resources.some((g) => pathGlobMatch(g, rel))) continue;
    await d.writer.call('hooks.advance', { session_id: s.session_id, pull_warned: { path: rel, event: e.id } });
    return l.holder_name;
  }
  return null;
}

/** The newest event `rel`'s copy in the session's clone is known to have (its sync, or a warning about `rel` since); null when no sync was seen. */
function sincePull(s: HookSession, rel: string): number | null {
  if (s.synced_event === 0) return null;
  for (const w of s.pull_warned) if (w.path === rel) return Math.max(s.synced_event - 1, w.event);
  return s.synced_event - 1;
}

/** No lease was let go after event `since`, known without a read (the usual edit); false when it must be read. */
const pulledSince = (d: PullDeps, since: number): boolean => d.newestDigestEvent !== null && d.newestDigestEvent() <= since;

/** changedSincePull's null, known without a read or a promise; false when it must be asked. */
export function notChangedSincePull(d: PullDeps, s: HookSession, rel: string): boolean {
  const since = sincePull(s, rel);
  return since === null || pulledSince(d, since);
}

/** The refusal's reason, as the model reads it (≈40 tokens). */
export const pullFirstReason = (rel: string, holder: string): string =>
  `Koor: ${rel} may have changed since your last git pull: ${holder} held it and let it go since. Pull first (git pull --rebase), then make this edit again, or your push may conflict.`;
