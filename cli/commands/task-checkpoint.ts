import { CliError, INSTANCE_OPTION, asAgent, call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Record progress on a task this agent claimed: what is done, what comes next',
  details:
    'If the task goes back to ready (this agent stops, dies or releases it), the next claimant gets the last checkpoint in its claim reply and its digest, ' +
    'and continues from there instead of restarting.',
  examples: [['After the first half', `$0 task checkpoint 12 --done 'API route and test' --next 'wire the dashboard page' --data '{"branch":"trucks"}'`]],
  positionals: [{ name: 'id' }],
  options: {
    done: { description: 'What is done (text)' },
    next: { description: 'What comes next (text)' },
    data: { description: 'Any JSON to hand over (a branch, a file list)' },
    ...INSTANCE_OPTION,
  },
  run: ({ pos, opt, ctx }) => {
    if (opt.data !== undefined) {
      try {
        JSON.parse(opt.data);
      } catch (e) {
        throw new CliError(`invalid checkpoint data JSON: ${(e as Error).message}`);
      }
    }
    const json = JSON.stringify({ done: opt.done ?? '', next: opt.next ?? '' });
    const body = opt.data === undefined ? json : `${json.slice(0, -1)},"data":${opt.data}}`;
    return call(asAgent(ctx, opt.instance), 'POST', `/api/tasks/${seg(pos.id)}/checkpoint`, { retrySafe: true, body });
  },
});
