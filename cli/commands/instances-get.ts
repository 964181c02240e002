import { call } from '../lib/api.js';
import { defineCommand } from '../lib/command.js';
import { seg } from '../lib/http.js';

export default defineCommand({
  description: 'Show one instance',
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'GET', `/api/instances/${seg(pos.id)}`),
});
