import type { AuditTag, IdemTag } from '../../../schemas/rpc/envelope.js';
import { MESSAGE, RECIPIENT, type Importance, type MessageDbRow } from '../../../schemas/db/tables/messages.js';
import type { ReadReply } from '../../../schemas/http/messages.js';
import { fail } from '../../errors.js';
import { HUMAN, type Principal } from '../../identity.js';
import { checkName } from '../../names.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { MESSAGE_MAX_BODY_BYTES, MESSAGE_MAX_RECIPIENTS, MESSAGE_MAX_TO } from '../../shared/limits-features.js';
import { folderOf } from '../../shared/workspace.js';
import type { InstanceDbRow as InstanceRow } from '../../../schemas/db/tables/instances.js';
import type { InstanceReader } from '../instances/reader.js';
import type { InboxDbRow, InboxFilter, MessageReader } from './reader.js';
import { withMembers } from '../../raw-json.js';


/** Who calls: an agent, or the operator (`null`: the server token, or open mode without an identity). */
export type Caller = { id: string; name: string } | null;

export interface NewMessage {
  to: string[];
  subject: string;
  body: string;
  thread_id: number | null;
  reply_to: number | null;
  importance: Importance;
  ack_required: boolean;
}

/** An inbox item (schemas/http/messages.ts InboxItem): the message's reply, then the reader's own read/ack times. */
export function inboxItemJson(r: InboxDbRow): string {
  return withMembers(MESSAGE.json(MESSAGE.decode(r)), RECIPIENT.json(r).slice(1, -1));
}

const live = (i: InstanceRow): boolean => i.status !== 'stale';
/** `project:<p>` matches a workspace equal to p or whose last path segment is p (a repository's folder name). */
const inProject = (workspace: string, p: string): boolean => workspace === p || folderOf(workspace) === p;
/** Whether a scoped token may address `entry` (resolved to `found`): only inside its projects. */
function reaches(scopes: readonly string[], entry: string, found: readonly InstanceRow[]): boolean {
  // `*` and `project:<p>` were checked against the route's rule already.
  if (entry === '*' || entry.startsWith('project:')) return true;
  const projects = scopes.filter((s) => s.startsWith('project:')).map((s) => s.slice('project:'.length));
  return found.every((i) => projects.some((p) => inProject(i.workspace, p)));
}

/**
 * The agent inbox: addressed messages, threads, per-recipient read and ack state.
 * Sending resolves `to` here (ids, names, `project:<p>`, `*`) against the registry as this node
 * reads it; the writer stores the message only if every recipient is still registered when it
 * commits. Reads never change state.
 */
export class MessageService {
  /** Messages this node stored (idempotent retries not counted). */
  readonly stats = { sent: 0 };

  constructor(
    private readonly reader: MessageReader,
    private readonly instances: InstanceReader,
    private readonly writer: WriterClient,
  ) {}

  /**
   * The instance ids `to` names, the sender left out of group addresses; unknown entries are a 400
   * naming them. With a scoped token's `principal`, every entry must stay inside its
   * projects: `project:<p>` of one of them, or agents whose workspace is one; never `*`.
   */
  async resolve(to: readonly string[], sender: string | null, principal: Pick<Principal, 'role' | 'scopes'> | null = null): Promise<string[]> {
    // The whole registry only for group addresses; an id is one point read, a name one filtered read.
    let all: InstanceRow[] | null = null;
    const everyone = async (): Promise<InstanceRow[]> => (all ??= await this.instances.list({}));
    const out = new Set<string>();
    const unknown: string[] = [];
    for (const entry of to) {
      let found: InstanceRow[];
      if (entry === '*') found = (await everyone()).filter((i) => live(i) && i.id !== sender);
      else if (entry.startsWith('project:')) {
        const p = entry.slice('project:'.length);
        found = p === '' ? [] : (await everyone()).filter((i) => live(i) && i.id !== sender && inProject(i.workspace, p));
      } else {
        const byId = await this.instances.get(entry);
        if (byId) found = [byId];
        else {
          // Every live instance of the name; an agent only stale for now still gets its mail.
          const named = await this.instances.list({ name: entry });
          found = named.some(live) ? named.filter(live) : named;
        }
      }
      if (found.length === 0) unknown.push(entry);
      else if (principal?.scopes && !reaches(principal.scopes, entry, found)) throw fail('SCOPE_FORBIDDEN', principal.role, 'send messages', `to ${entry}`);
      for (const i of found) out.add(i.id);
    }
    if (unknown.length > 0) throw fail('UNKNOWN_RECIPIENTS', unknown);
    if (out.size > MESSAGE_MAX_RECIPIENTS) throw fail('TOO_MANY', 'recipients', out.size, MESSAGE_MAX_RECIPIENTS);
    return [...out];
  }

  /** Stores and commits the message, its `message.sent` event (ids and names only) going out with the reply. */
  async send(caller: Caller, m: NewMessage, idem: (req: unknown) => IdemTag | null, audit: AuditTag, principal: Pick<Principal, 'role' | 'scopes'> | null = null): Promise<{ json: string; replayed: boolean }> {
    if (m.to.length === 0) throw fail('FIELD_REQUIRED', 'to');
    if (m.to.length > MESSAGE_MAX_TO) throw fail('TOO_MANY', 'to entries', m.to.length, MESSAGE_MAX_TO);
    for (const t of m.to) checkName(t, 'to');
    if (m.body === '') throw fail('FIELD_REQUIRED', 'body');
    const bytes = Buffer.byteLength(m.body);
    if (bytes > MESSAGE_MAX_BODY_BYTES) throw fail('MESSAGE_BODY_TOO_LARGE', bytes, MESSAGE_MAX_BODY_BYTES);
    checkName(m.subject, 'subject');
    const from = caller?.id ?? HUMAN;
    const recipients = await this.resolve(m.to, caller?.id ?? null, principal);
    const req = {
      from,
      from_name: caller?.name ?? HUMAN,
      to: m.to,
      recipients,
      subject: m.subject,
      body: m.body,
      ...(m.thread_id !== null ? { thread_id: m.thread_id } : {}),
      ...(m.reply_to !== null ? { reply_to: m.reply_to } : {}),
      importance: m.importance,
      ack_required: m.ack_required,
    };
    // The key covers what was asked (`to` as written), not what it resolved to this time.
    const { res, replayed } = await this.writer.callIdempotent('messages.send', req, idem({ ...req, recipients: undefined }), { audit });
    if (!replayed) this.stats.sent++;
    return { json: MESSAGE.json(res.message), replayed };
  }

  /** The caller's items after `since`, oldest first. Never changes state. */
  async inbox(recipient: string, f: InboxFilter): Promise<string[]> {
    return (await this.reader.inbox(recipient, f)).map(inboxItemJson);
  }

  async markRead(recipient: string, what: { ids: number[] } | { up_to: number }): Promise<ReadReply> {
    return this.writer.call('messages.mark_read', { recipient, ...what });
  }

  async ack(recipient: string, id: number, audit: AuditTag): Promise<string> {
    const r = await this.writer.call('messages.ack', { recipient, id }, { audit });
    return JSON.stringify({ id: r.message_id, ...RECIPIENT.wire(r) });
  }

  /** The message and each recipient's read/ack state, for its sender, a recipient or the operator. */
  async get(id: number, viewer: Caller): Promise<string> {
    const r = await this.reader.withRecipients(id);
    if (!r || !this.mayRead(r.message, viewer)) throw fail('MESSAGE_NOT_FOUND', id);
    const names = new Map<string, string>();
    for (const s of r.recipients) {
      const i = await this.instances.get(s.recipient);
      names.set(s.recipient, i?.name ?? '');
    }
    const receipts = r.recipients.map((s) => ({ recipient: s.recipient, name: names.get(s.recipient) ?? '', ...RECIPIENT.wire(s) }));
    return withMembers(MESSAGE.json(MESSAGE.decode(r.message)), `"receipts":${JSON.stringify(receipts)}`);
  }

  /** A thread's messages after `after`, for a participant (sender or recipient of one of them) or the operator. */
  async thread(threadId: number, viewer: Caller, after: number, limit: number): Promise<string[]> {
    if (viewer !== null && !(await this.reader.inThread(threadId, viewer.id))) throw fail('THREAD_NOT_FOUND', threadId);
    const rows = await this.reader.thread(threadId, after, limit);
    if (rows.length === 0 && after === 0) throw fail('THREAD_NOT_FOUND', threadId);
    return rows.map((r) => MESSAGE.json(MESSAGE.decode(r)));
  }

  unread(recipient: string): Promise<number> {
    return Promise.resolve(this.reader.unread(recipient));
  }

  private mayRead(m: MessageDbRow, viewer: Caller): boolean {
    if (viewer === null || m.from_id === viewer.id) return true;
    return (JSON.parse(m.recipients) as string[]).includes(viewer.id);
  }
}
