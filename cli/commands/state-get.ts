import { defineCommand, exitCodeFor, formatBody, keyPath, request, writeOut } from '../core.js';

export default defineCommand({
  description: 'Print the current value of a state key (raw bytes)',
  details:
    'Prints the value as stored. On a terminal a newline follows a value that does not end with one, so the prompt starts on its own line; piped or redirected, the output is exactly the value.',
  examples: [['Read a key (slashes allowed)', '$0 state get api/contract --pretty']],
  positionals: [{ name: 'key' }],
  options: {},
  async run({ pos, ctx }) {
    const reply = await request(ctx.config, 'GET', `/api/state/${keyPath(pos.key)}`);
    const out = formatBody(reply.body, reply.headers['content-type'], ctx.pretty);
    writeOut(out);
    const last = typeof out === 'string' ? out.charCodeAt(out.length - 1) : out[out.length - 1];
    // node:tty only when it matters (a value without a final newline).
    if (out.length > 0 && last !== 0x0a && (await import('node:tty')).isatty(1)) writeOut('\n');
    return exitCodeFor(reply.status);
  },
});
