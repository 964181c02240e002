import type { Message } from '../../schemas/http/messages.js';
import { INSTANCE_OPTION, asAgent, defineCommand, messageText, okJson, query, request, seg, writeOut } from '../core.js';

/** The server's largest page. */
const PAGE = 1000;

export default defineCommand({
  description: 'Print a whole thread, oldest first',
  details:
    'One header line per message (`#<id> <from> -> <to> (<age>)`, `[high]`, `[ack required]`, `re #<id>`, `: <subject>`), the body below it indented by two spaces. ' +
    'Reading a thread marks nothing read. Only its participants (and the operator) may read it. The thread id is the id of its first message.',
  examples: [['The thread of message 40', '$0 thread 40']],
  positionals: [{ name: 'id' }],
  options: {
    since: { description: 'Only messages after this id' },
    ...INSTANCE_OPTION,
  },
  async run({ pos, opt, ctx }) {
    const config = asAgent(ctx, opt.instance).config;
    const messages: Message[] = [];
    let since = opt.since;
    for (;;) {
      const page = okJson('GET /api/threads/{id}', await request(config, 'GET', `/api/threads/${seg(pos.id)}${query({ since, limit: PAGE })}`));
      if (page === null) return 1;
      messages.push(...page);
      if (page.length < PAGE) break;
      since = String(page[page.length - 1]!.id);
    }
    const now = Date.now();
    writeOut(messages.length === 0 ? `no messages in thread #${pos.id}${opt.since === undefined ? '' : ` after #${opt.since}`}\n` : messages.map((m) => messageText(m, { showTo: true, inThread: true, now })).join(''));
    return 0;
  },
});
