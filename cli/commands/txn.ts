import { BODY_OPTIONS, bodyFrom, call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'Run a transaction: compares, then puts, deletes, gets and publishes, all or nothing',
  details:
    'Sends the JSON to POST /api/txn: `{"compare":[{"key","version"|"hash"|"exists"}],"success":[op…],"failure":[op…]}` with ops ' +
    '`{"op":"put","key","value","content_type","ttl"}`, `{"op":"delete","key"}`, `{"op":"get","key"}`, `{"op":"publish","topic","data"}` (at most 64 in all). ' +
    'If every compare holds the success ops run, else the failure ops, in one transaction; the reply says which (`succeeded`), the revision, and what each op did.',
  examples: [
    ['From a file', '$0 txn --file t.json'],
    ['Create a key only if absent', `$0 txn --data '{"compare":[{"key":"lock/build","exists":false}],"success":[{"op":"put","key":"lock/build","value":"me"}]}'`],
  ],
  positionals: [],
  options: { ...BODY_OPTIONS },
  run: ({ opt, ignored, ctx }) => call(ctx, 'POST', '/api/txn', { retrySafe: true, body: bodyFrom(opt, ignored) }),
});
