import { defineCommand } from '../core.js';

export default defineCommand({
  description: 'Stream events as they are published, one JSON per line',
  details:
    'Opens a WebSocket to /api/events/subscribe and prints every matching event as one compact JSON line on stdout (status lines go to stderr). ' +
    'After a dropped connection or a slow-consumer close (4008) it reconnects with `since=<last id>`, so nothing is missed or printed twice. ' +
    'If the server refuses the WebSocket upgrade it polls the history every 2 seconds instead. Ctrl-C exits 0.',
  examples: [
    ['Everything', '$0 events subscribe'],
    ['Only api events', `$0 events subscribe 'api.*'`],
  ],
  positionals: [{ name: 'pattern', optional: true }],
  options: {},
  async run({ pos, ctx }) {
    // ws is loaded only here, never on the start path of other commands (nor for --help).
    const { subscribe } = await import('../subscriber.js');
    return subscribe({ config: ctx.config, pattern: pos.pattern ?? '*', pretty: ctx.pretty });
  },
});
