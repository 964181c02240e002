import { AckReply, type Importance, InboxReply, Message, MessageReceiptsReply, ReadBody, ReadReply, SendBody, ThreadReply } from '../../../schemas/http/messages.js';
import { fail } from '../../errors.js';
import { auditBy } from '../../http/actor.js';
import type { Ctx } from '../../http/context.js';
import { flagParam, parseIntStrict, positiveInt, queryParams, sinceParam } from '../../http/query.js';
import { idemTag, REPLAYED } from '../../http/idempotency.js';
import { sendJson, sendJsonText } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import { INBOX_DEFAULT_LIMIT, INBOX_MAX_LIMIT, INBOX_READ_MAX_IDS } from '../../shared/limits-features.js';
import type { Caller, MessageService } from './service.js';
import { rule, strings } from '../../http/permissions.js';
import type { Target } from '../../access.js';
import type { SocketRoute } from '../domain.js';
import { INBOX_SUBSCRIBE_PATH, type InboxPush } from './push.js';
import { PositiveInt, Query } from '../../../schemas/http/common.js';

/** The caller as the inbox sees it: an agent, or the operator (no identity). */
const callerOf = (ctx: Ctx): Caller => (ctx.identity ? { id: ctx.identity.instanceId, name: ctx.identity.name } : null);

/** The calling agent: an inbox is an agent's own. */
function recipientOf(ctx: Ctx, action: string): string {
  if (!ctx.identity) throw fail('IDENTITY_REQUIRED', action);
  return ctx.identity.instanceId;
}

/** A message or thread id from a path: a positive integer, else it does not exist. */
function idParam(raw: string, notFound: 'MESSAGE_NOT_FOUND' | 'THREAD_NOT_FOUND'): number {
  if (!/^[1-9]\d{0,14}$/.test(raw)) throw fail(notFound, raw);
  return Number(raw);
}

/** `thread=` filter: a positive id, or null when absent. */
function threadParam(q: URLSearchParams): number | null {
  const raw = q.get('thread');
  if (raw === null || raw === '') return null;
  const n = parseIntStrict(raw);
  if (n === null || n < 1) throw fail('NOT_POSITIVE_INTEGER', 'thread');
  return n;
}

/**
 * The projects a message's `to` names (`project:<p>`; `*` is everyone: the whole collection). Agents
 * named by id or name are checked by the service once resolved (their workspace's project).
 */
const messageTo = {
  from: 'body',
  target: (ctx: Ctx): Target[] => {
    const to = (ctx.json as { to?: unknown } | undefined)?.to;
    return strings(typeof to === 'string' ? [to] : to).flatMap((e): Target[] => (e === '*' ? [{ kind: 'project', name: null }] : e.startsWith('project:') ? [{ kind: 'project', name: e.slice(8) }] : []));
  },
} as const;

/** The inbox's live push (./push.ts): a WebSocket route. */
export function inboxSocket(push: InboxPush): SocketRoute {
  return {
    method: 'GET',
    path: INBOX_SUBSCRIBE_PATH,
    summary: "Push the calling agent's inbox (WebSocket)",
    rule: rule('read', 'subscribe to an inbox'),
    query: Query({ since: 'Send the items after this message id first', unread: 'true or 1: unread items only' }),
    mount: (slots, deps) => push.mount(slots, deps),
  };
}

export function messageRoutes(svc: MessageService): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/messages',
      summary: 'Send a message',
      rule: rule('party', 'send messages', messageTo),
      replies: { 200: Message },
      body: 'json',
      schema: SendBody,
      handler: async (ctx) => {
        const b = ctx.json as { to?: string[] | string; subject?: string; body?: string; thread_id?: number | null; reply_to?: number | null; importance?: Importance; ack_required?: boolean };
        if (b.to === undefined) throw fail('FIELD_REQUIRED', 'to');
        if (b.body === undefined) throw fail('FIELD_REQUIRED', 'body');
        const { json, replayed } = await svc.send(
          callerOf(ctx),
          {
            to: typeof b.to === 'string' ? [b.to] : b.to,
            subject: b.subject ?? '',
            body: b.body,
            thread_id: b.thread_id ?? null,
            reply_to: b.reply_to ?? null,
            importance: b.importance ?? 'normal',
            ack_required: b.ack_required ?? false,
          },
          (req) => idemTag(ctx, req),
          auditBy(ctx),
          ctx.principal,
        );
        if (!replayed) ctx.tally?.('messages_sent');
        sendJsonText(ctx, 200, json, replayed ? REPLAYED : undefined);
      },
    },
    {
      method: 'GET',
      path: '/api/inbox',
      summary: "Read the calling agent's inbox",
      rule: rule('read', 'read an inbox'),
      replies: { 200: InboxReply },
      query: Query({ since: 'Only the items after this message id', unread: 'true or 1: unread items only', thread: 'Only the items of this thread', limit: PositiveInt('How many items') }),
      handler: async (ctx) => {
        const me = recipientOf(ctx, 'reading the inbox');
        const q = queryParams(ctx);
        const items = await svc.inbox(me, {
          since: sinceParam(q.get('since')) ?? 0,
          unread: flagParam(q, 'unread'),
          thread: threadParam(q),
          limit: positiveInt(q, 'limit', INBOX_DEFAULT_LIMIT, INBOX_MAX_LIMIT),
        });
        sendJsonText(ctx, 200, `[${items.join(',')}]`);
      },
    },
    {
      method: 'POST',
      path: '/api/inbox/read',
      summary: 'Mark inbox items read',
      rule: rule('write', 'mark messages read'),
      replies: { 200: ReadReply },
      body: 'json',
      schema: ReadBody,
      handler: async (ctx) => {
        const me = recipientOf(ctx, 'marking the inbox read');
        const b = ctx.json as { ids?: number[]; up_to?: number };
        if ((b.ids === undefined) === (b.up_to === undefined)) throw fail('ONE_OF_REQUIRED', ['ids', 'up_to']);
        if (b.ids !== undefined && b.ids.length > INBOX_READ_MAX_IDS) throw fail('TOO_MANY', 'ids', b.ids.length, INBOX_READ_MAX_IDS);
        sendJson(ctx, 200, await svc.markRead(me, b.ids !== undefined ? { ids: b.ids } : { up_to: b.up_to! }));
      },
    },
    {
      method: 'POST',
      path: '/api/inbox/:id/ack',
      summary: 'Acknowledge a message',
      rule: rule('write', 'acknowledge messages'),
      replies: { 200: AckReply },
      handler: async (ctx) => {
        const me = recipientOf(ctx, 'acknowledging a message');
        sendJsonText(ctx, 200, await svc.ack(me, idParam(ctx.params[0]!, 'MESSAGE_NOT_FOUND'), auditBy(ctx)));
      },
    },
    {
      method: 'GET',
      path: '/api/messages/:id',
      summary: "A message's receipts",
      rule: rule('party', 'read messages'),
      replies: { 200: MessageReceiptsReply },
      handler: async (ctx) => sendJsonText(ctx, 200, await svc.get(idParam(ctx.params[0]!, 'MESSAGE_NOT_FOUND'), callerOf(ctx))),
    },
    {
      method: 'GET',
      path: '/api/threads/:id',
      summary: 'Read a thread',
      rule: rule('party', 'read messages'),
      replies: { 200: ThreadReply },
      query: Query({ since: 'Only the messages after this id', limit: PositiveInt('How many messages') }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const since = sinceParam(q.get('since')) ?? 0;
        const rows = await svc.thread(idParam(ctx.params[0]!, 'THREAD_NOT_FOUND'), callerOf(ctx), since, positiveInt(q, 'limit', INBOX_DEFAULT_LIMIT, INBOX_MAX_LIMIT));
        sendJsonText(ctx, 200, `[${rows.join(',')}]`);
      },
    },
  ];
}
