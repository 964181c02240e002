import { INSTANCE_OPTION, UsageError, asAgent, defineCommand, okJson, request, seg, writeOut } from '../core.js';

export default defineCommand({
  description: "What concerns this agent now: the digest Koor's hooks put into a model's context",
  details:
    'Prints the digest (unread messages, tasks ready in its project, leases of others on files it edited, rules accepted and specs changed in its project, agents joining its repository) in a few lines, or nothing when there is no news. ' +
    'Reading it changes nothing. Needs an agent identity: --instance or KOOR_INSTANCE (inside a Claude Code session with Koor hooks, the session is the agent).',
  examples: [['What is new for me?', '$0 digest']],
  positionals: [],
  options: { ...INSTANCE_OPTION },
  async run({ opt, ctx }) {
    const config = asAgent(ctx, opt.instance).config;
    if (config.instance === '') throw new UsageError('digest needs an agent identity: --instance or KOOR_INSTANCE');
    const r = okJson('GET /api/agents/{id}/digest', await request(config, 'GET', `/api/agents/${seg(config.instance)}/digest`));
    if (r === null) return 1;
    if (r.lines.length > 0) writeOut(`${r.lines.map((l) => `- ${l}`).join('\n')}\n`);
    return 0;
  },
});
