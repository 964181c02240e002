import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: "The server's API described in OpenAPI 3.1 (JSON)",
  details:
    'Prints the document the server makes from its route declarations (GET /api/openapi.json): every route with its parameters, bodies and replies, errors, the bearer auth, and the WebSocket routes (x-koor-websocket). ' +
    'Feed it to a client generator (openapi-typescript, openapi-generator) or an API browser.',
  examples: [['Generate TypeScript types for a client', '$0 openapi > koor.json && npx openapi-typescript koor.json -o koor.d.ts']],
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'GET', '/api/openapi.json'),
});
