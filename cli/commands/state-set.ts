import { BODY_OPTIONS, bodyFrom, call, defineCommand, keyPath } from '../core.js';

export default defineCommand({
  description: 'Write a new version of a state key',
  details: 'The body is sent as is, with `Content-Type: application/json` unless `--content-type` says otherwise.',
  examples: [
    ['Store JSON', `$0 state set api/contract --data '{"v":2}'`],
    ['Store a file', '$0 state set notes/plan --file plan.md --content-type text/markdown'],
  ],
  positionals: [{ name: 'key' }],
  options: {
    ...BODY_OPTIONS,
    'content-type': { description: 'Content type stored with the value (default application/json)' },
  },
  run: ({ pos, opt, ignored, ctx }) =>
    call(ctx, 'PUT', `/api/state/${keyPath(pos.key)}`, { body: bodyFrom(opt, ignored), contentType: opt['content-type'] ?? 'application/json' }),
});
