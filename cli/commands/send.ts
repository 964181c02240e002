import fs from 'node:fs';
import { CliError, INSTANCE_OPTION, UsageError, asAgent, commaList, defineCommand, intOption, okJson, request, shortId, writeOut } from '../core.js';

export default defineCommand({
  description: 'Send a message to agents: by id, by name, to project:<p> or to * (everyone)',
  details:
    'Prints `sent #<id> to <to> (<n> recipients)`. <to> is a comma-separated list of instance ids, instance names (every live instance of that name), `project:<p>` (every live agent of that workspace) and `*`; an unknown one refuses the whole message. ' +
    '`-` as <body> reads it from stdin. --reply-to joins the thread of the message answered; --thread joins a thread; otherwise the message starts its own thread. ' +
    'Each run sends an Idempotency-Key, so the server stores it at most once. Needs an agent identity (--instance or KOOR_INSTANCE), or the operator token to send as `human`.',
  examples: [
    ['Tell one agent', `$0 send backend 'the /users contract changed, please regenerate the client' --subject contract`],
    ['Answer, asking for an acknowledgement', `$0 send ann 'done in 3f2a1c' --reply-to 42 --ack-required`],
    ['Everyone in a project, body from a file', '$0 send project:web - --high < notes.md'],
  ],
  positionals: [{ name: 'to' }, { name: 'body' }],
  options: {
    subject: { description: 'A one-line subject' },
    thread: { description: 'Join this thread (its id)' },
    'reply-to': { description: 'Answer this message (its id); joins its thread' },
    'ack-required': { description: 'Ask the recipients to acknowledge it (koor-cli ack <id>)', boolean: true },
    high: { description: 'High importance', boolean: true },
    ...INSTANCE_OPTION,
  },
  async run({ pos, opt, ctx }) {
    const to = commaList(pos.to);
    if (to.length === 0) throw new UsageError('<to> names no recipient');
    let body = pos.body;
    if (body === '-') {
      try {
        body = fs.readFileSync(0, 'utf8');
      } catch (e) {
        throw new CliError(`cannot read stdin: ${(e as Error).message}`);
      }
    }
    const req: Record<string, unknown> = { to, body };
    if (opt.subject !== undefined) req.subject = opt.subject;
    if (opt.thread !== undefined) req.thread_id = intOption('thread', opt.thread);
    if (opt['reply-to'] !== undefined) req.reply_to = intOption('reply-to', opt['reply-to']);
    if (opt['ack-required']) req.ack_required = true;
    if (opt.high) req.importance = 'high';
    // One key per run: were the request ever sent again (a retry), the server would store it once.
    const reply = await request(asAgent(ctx, opt.instance).config, 'POST', '/api/messages', { retrySafe: true, body: JSON.stringify(req) });
    const m = okJson('POST /api/messages', reply);
    if (m === null) return 1;
    const n = m.recipients.length;
    const thread = m.thread_id === m.id ? '' : `, thread #${m.thread_id}`;
    writeOut(`sent #${m.id} to ${to.map(shortId).join(',')} (${n} recipient${n === 1 ? '' : 's'}${thread})\n`);
    return 0;
  },
});
