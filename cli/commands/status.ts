import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'Check the server: GET /health',
  examples: [['Is the server up?', '$0 status']],
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'GET', '/health'),
});
