import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'List state keys with version, content type and update time',
  details: 'One page of keys in key order (the server\'s default and largest page is 5000 keys). When more follow, the reply carries a `Link` header; pass the last key you got as `--after` for the next page.',
  examples: [
    ['List the first 100 keys', '$0 state list --limit 100'],
    ['The next page', '$0 state list --limit 100 --after tasks/0099'],
  ],
  positionals: [],
  options: {
    limit: { description: 'Keys per page (at most 5000)' },
    after: { description: 'Start after this key' },
    prefix: { description: 'Only keys starting with this' },
  },
  run: ({ opt, ctx }) => call(ctx, 'GET', `/api/state${query({ prefix: opt.prefix, limit: opt.limit, after: opt.after })}`),
});
