import { INSTANCE_OPTION, UsageError, asAgent, commaList, defineCommand, intOption, okJson, request, seg, writeOut } from '../core.js';

export default defineCommand({
  description: 'Acknowledge messages that asked for it (also marks them read)',
  details: 'Prints `acked #<id>` per message. <id> may be a comma-separated list; they are acknowledged in order and the first failure stops (its error JSON on stdout, exit 1). Needs an agent identity: --instance or KOOR_INSTANCE.',
  examples: [['Acknowledge two messages', '$0 ack 42,43']],
  positionals: [{ name: 'id' }],
  options: { ...INSTANCE_OPTION },
  async run({ pos, opt, ctx }) {
    const ids = commaList(pos.id);
    if (ids.length === 0) throw new UsageError('<id> names no message');
    for (const id of ids) intOption('id', id);
    const config = asAgent(ctx, opt.instance).config;
    for (const id of ids) {
      const r = okJson('POST /api/inbox/{id}/ack', await request(config, 'POST', `/api/inbox/${seg(id)}/ack`));
      if (r === null) return 1;
      writeOut(`acked #${r.id}\n`);
    }
    return 0;
  },
});
