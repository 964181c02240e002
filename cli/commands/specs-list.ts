import { call } from '../lib/api.js';
import { defineCommand } from '../lib/command.js';
import { seg } from '../lib/http.js';

export default defineCommand({
  description: 'List the specs of a project',
  positionals: [{ name: 'project' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'GET', `/api/specs/${seg(pos.project)}`),
});
