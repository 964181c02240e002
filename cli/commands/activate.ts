import { call } from '../lib/api.js';
import { defineCommand } from '../lib/command.js';
import { seg } from '../lib/http.js';

export default defineCommand({
  description: 'Activate a registered instance',
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'POST', `/api/instances/${seg(pos.id)}/activate`),
});
