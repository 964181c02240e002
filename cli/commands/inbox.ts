import type { InboxItem } from '../../schemas/http/messages.js';
import { INSTANCE_OPTION, UsageError, asAgent, defineCommand, intOption, messageText, okJson, query, request, writeOut } from '../core.js';

/** What one run prints unless --limit says otherwise: an agent reads all of it. */
const DEFAULT_LIMIT = 20;
/** The server's largest page, for walking an inbox to its newest items (--all). */
const PAGE = 1000;

export default defineCommand({
  description: "Print this agent's unread messages and mark them read",
  details:
    'One header line per message (`#<id> <from> (<age>)`, then `[high]`, `[ack required]`, `re #<id>`, `thread #<id>` when they apply, and `: <subject>`), the body below it indented by two spaces; oldest first. ' +
    'The messages printed are then marked read (only those: a message that arrives meanwhile stays unread). --peek leaves them unread; --all prints the newest messages whether read or not. ' +
    'Says how many stay unread, and which messages ask for `koor-cli ack <id>`. Needs an agent identity: --instance or KOOR_INSTANCE (or the agent token).',
  examples: [
    ['Read new mail', '$0 inbox'],
    ['Look without marking anything read', '$0 inbox --peek'],
    ['The last 5 messages of a thread, read or not', '$0 inbox --all --thread 40 --limit 5'],
  ],
  positionals: [],
  options: {
    unread: { description: 'Only unread messages (the default)', boolean: true },
    all: { description: 'Read messages too: the newest ones', boolean: true },
    thread: { description: 'Only messages of this thread' },
    peek: { description: 'Leave the messages unread', boolean: true },
    limit: { description: `At most this many (default ${DEFAULT_LIMIT})` },
    ...INSTANCE_OPTION,
  },
  async run({ opt, ctx }) {
    if (opt.unread && opt.all) throw new UsageError('use either --unread or --all, not both');
    const limit = opt.limit === undefined ? DEFAULT_LIMIT : intOption('limit', opt.limit);
    if (limit < 1) throw new UsageError(`--limit must be at least 1, got ${opt.limit}`);
    const thread = opt.thread === undefined ? undefined : intOption('thread', opt.thread);
    const config = asAgent(ctx, opt.instance).config;
    const get = (params: Record<string, string | number | undefined>) => request(config, 'GET', `/api/inbox${query({ ...params, thread })}`);

    let items: InboxItem[];
    let more = false;
    if (!opt.all) {
      // One more than asked for says whether more are waiting, without a second request.
      const page = okJson('GET /api/inbox', await get({ unread: 1, limit: limit + 1 }));
      if (page === null) return 1;
      more = page.length > limit;
      items = page.slice(0, limit);
    } else {
      // Oldest first from the server: walk to the end and keep the newest `limit`.
      items = [];
      let since = 0;
      for (;;) {
        const page = okJson('GET /api/inbox', await get({ since, limit: PAGE }));
        if (page === null) return 1;
        items = items.concat(page).slice(-limit - 1);
        if (page.length < PAGE) break;
        since = page[page.length - 1]!.id;
      }
      more = items.length > limit;
      items = items.slice(-limit);
    }

    if (items.length === 0) {
      writeOut(`no ${opt.all ? '' : 'unread '}messages${thread === undefined ? '' : ` in thread #${thread}`}\n`);
      return 0;
    }
    const now = Date.now();
    let out = items.map((m) => messageText(m, { now })).join('');
    const unread = items.filter((m) => m.read_at === '').map((m) => m.id);
    const toAck = items.filter((m) => m.ack_required && m.acked_at === '').map((m) => m.id);
    let left: number | null = null;
    if (!opt.peek && unread.length > 0) {
      const r = okJson('POST /api/inbox/read', await request(config, 'POST', '/api/inbox/read', { body: JSON.stringify({ ids: unread }) }));
      if (r === null) {
        writeOut(out);
        return 1;
      }
      left = r.unread;
    }
    if (toAck.length > 0) out += `ack required: koor-cli ack ${toAck.join(',')}\n`;
    if (opt.all) {
      if (more) out += `(the newest ${items.length}; --limit N for more)\n`;
    } else if (left !== null && left > 0) {
      out += `${left} more unread: koor-cli inbox\n`;
    } else if (more) {
      out += `more unread: koor-cli inbox${opt.peek ? ' --peek' : ''} --limit N\n`;
    }
    writeOut(out);
    return 0;
  },
});
