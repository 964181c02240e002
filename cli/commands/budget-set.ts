import { call, CliError, defineCommand } from '../core.js';

export default defineCommand({
  description: 'Set a spending cap on an agent, a project, a session tag or everyone (admin only)',
  details:
    'Scope: agent:<id|name>, project:<name>, session:<tag> or global. Past --warn-at of the cap the server publishes budget.warning, at the cap budget.exceeded ' +
    "(each once per period); then the agent's next hook digest says so and task claims of that agent (or in that project) answer 429 until the period rolls or the cap is raised. " +
    'Periods run in UTC: day, week (from Monday), month, total.',
  examples: [
    ['$20 a day for a project', '$0 budget set project:web --usd 20 --period day'],
    ['Two million tokens a week for one agent, warned at half', '$0 budget set agent:alice --tokens 2000000 --period week --warn-at 0.5'],
  ],
  positionals: [{ name: 'scope', description: 'agent:<id|name>, project:<name>, session:<tag> or global' }],
  options: {
    usd: { description: 'Cap in US dollars' },
    tokens: { description: 'Cap in tokens (in + out)' },
    period: { description: 'day, week, month (default) or total' },
    'warn-at': { description: 'Fraction of the cap that publishes budget.warning (default 0.8)' },
  },
  run: ({ pos, opt, ctx }) => {
    const num = (name: string, v: string | undefined): number | undefined => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new CliError(`--${name} must be a number: ${v}`);
      return n;
    };
    const body = { usd: num('usd', opt.usd), tokens: num('tokens', opt.tokens), period: opt.period, warn_at: num('warn-at', opt['warn-at']) };
    return call(ctx, 'PUT', `/api/budgets/${encodeURIComponent(pos.scope)}`, { retrySafe: true, body: JSON.stringify(body) });
  },
});
