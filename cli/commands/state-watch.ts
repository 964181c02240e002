import { defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'Stream changes of the state keys under a prefix, one JSON per line',
  details:
    'Opens a WebSocket to /api/state/watch and prints every put, delete and expiry of a key under the prefix as one compact JSON line on stdout ' +
    '(`{"type","key","version","revision","hash","content_type","updated_by"}`; status lines go to stderr). It starts at the newest revision, ' +
    'and after a dropped connection or a slow-consumer close (4008) it reconnects with `since_revision=<last revision>`, so no change is missed or printed twice. ' +
    'With `--since` it first prints the retained changes after that revision. Ctrl-C exits 0.',
  examples: [
    ['Everything under build/', '$0 state watch build/'],
    ['From revision 42 on', '$0 state watch build/ --since 42'],
  ],
  positionals: [{ name: 'prefix', optional: true }],
  options: {
    since: { description: 'Print the retained changes after this revision first' },
  },
  async run({ pos, opt, ctx }) {
    const { subscribe } = await import('../subscriber.js');
    const prefix = pos.prefix ?? '';
    const q = query({ prefix: prefix === '' ? undefined : prefix });
    const since = opt.since === undefined ? '' : `${q === '' ? '?' : '&'}since_revision=${encodeURIComponent(opt.since)}`;
    return subscribe({ config: ctx.config, pattern: prefix, pretty: ctx.pretty, watch: { path: `/api/state/watch${q}${since}`, baseline: `/api/state${query({ prefix: prefix === '' ? undefined : prefix, limit: 1 })}` } });
  },
});
