import fs from 'node:fs';
import { CliError, defineCommand, exitCodeFor, formatBody, query, request, writeErr, writeOut } from '../core.js';

export default defineCommand({
  description: 'Export accepted rules of all projects (always pretty-printed)',
  details: 'Sources default to `local,learned` (the server\'s default). With `--output` the rules go to that file and `exported to <path>` to stderr.',
  examples: [
    ['Save the shared rules', '$0 rules export --output rules.json'],
    ['Include imported rules', '$0 rules export --source local,learned,external'],
  ],
  positionals: [],
  options: {
    source: { description: 'Comma-separated sources (default local,learned)' },
    output: { description: 'Write the rules to this file instead of stdout' },
  },
  async run({ opt, ctx }) {
    const reply = await request(ctx.config, 'GET', `/api/rules/export${query({ source: opt.source })}`);
    const out = formatBody(reply.body, reply.headers['content-type'], true);
    // An error reply is printed, never written to the file (exit 1 with the body).
    if (opt.output === undefined || reply.status >= 300) {
      writeOut(out);
      return exitCodeFor(reply.status);
    }
    try {
      fs.writeFileSync(opt.output, out);
    } catch (e) {
      throw new CliError(`cannot write ${opt.output}: ${(e as Error).message}`);
    }
    writeErr(`exported to ${opt.output}`);
    return 0;
  },
});
