import { call } from '../lib/api.js';
import { defineCommand } from '../lib/command.js';

export default defineCommand({
  description: 'Check the server: GET /health',
  examples: [['Is the server up?', '$0 status']],
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'GET', '/health'),
});
