import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'Recent events, newest first (oldest first after --since)',
  details: 'Topic patterns are globs: `*` matches any run of characters except `/` (it crosses dots), `?` one character, `[a-z]` a class.',
  examples: [
    ['The last 10 api events', `$0 events history --topic 'api.*' --last 10`],
    ['Everything after event 42', '$0 events history --since 42'],
  ],
  positionals: [],
  options: {
    last: { description: 'At most N events (default 50)' },
    topic: { description: 'Topic glob' },
    from: { description: 'Not before this RFC 3339 time' },
    to: { description: 'Not after this RFC 3339 time' },
    source: { description: 'Exact source' },
    since: { description: 'Only events with an id above this, oldest first' },
    before: { description: 'Only events with an id below this (the X-Koor-Next cursor of a reply cut short)' },
  },
  run: ({ opt, ctx }) =>
    call(ctx, 'GET', `/api/events/history${query({ last: opt.last, topic: opt.topic, from: opt.from, to: opt.to, source: opt.source, since: opt.since, before: opt.before })}`),
});
