import { call, defineCommand, keyPath, query } from '../core.js';

export default defineCommand({
  description: "Write an old version's value as a new version",
  examples: [['Restore version 3', '$0 state rollback api/contract --version 3']],
  positionals: [{ name: 'key' }],
  options: { version: { description: 'The version to restore', required: true } },
  run: ({ pos, opt, ctx }) => call(ctx, 'POST', `/api/state/${keyPath(pos.key)}${query({ rollback: opt.version })}`),
});
