import { defineCommand, endLineOnTerminal, exitCodeFor, formatBody, keyPath, request, writeOut } from '../core.js';

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
    await endLineOnTerminal(out);
    return exitCodeFor(reply.status);
  },
});
