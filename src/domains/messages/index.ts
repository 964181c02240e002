import { then } from '../../shared/awaitable.js';
import type { Domain, Platform } from '../domain.js';
import { InboxPush } from './push.js';
import { inboxSocket, messageRoutes } from './routes.js';
import { MessageService } from './service.js';

/** The agent inbox: addressed messages, threads, read/ack state, and the live push. */
export function messagesDomain(p: Platform): Domain & { messages: MessageService; push: InboxPush } {
  const messages = new MessageService(p.readers.messages, p.readers.instances, p.writer);
  const push = new InboxPush(p.readers.messages, p.hub, p.log.child({ component: 'inbox' }));
  return {
    messages,
    push,
    routes: messageRoutes(messages),
    sockets: [inboxSocket(push)],
    metrics: (m) => {
      m.counter('koor_messages_sent_total', 'Inbox messages sent through this node (idempotent retries not counted).', () => messages.stats.sent);
      m.gauge('koor_inbox_subscribers', 'Open inbox push streams (/api/inbox/subscribe) on this node.', () => push.stats.subscribers);
      m.counter('koor_inbox_pushed_total', 'Inbox items written to push streams on this node.', () => push.stats.pushed);
      m.labeled('koor_inbox_unread', 'Unread inbox items per agent (agents with none are left out).', 'gauge', () =>
        then(p.readers.messages.unreadByRecipient(), (rows) => rows.map((r) => ({ labels: { agent: r.recipient }, value: r.n }))),
      );
    },
  };
}
