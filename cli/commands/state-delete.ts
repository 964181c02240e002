import { call } from '../lib/api.js';
import { defineCommand } from '../lib/command.js';
import { keyPath } from '../lib/http.js';

export default defineCommand({
  description: 'Delete a state key',
  positionals: [{ name: 'key' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'DELETE', `/api/state/${keyPath(pos.key)}`),
});
