import { defineCommand, printReply, request, writeErr } from '../core.js';
import { projectLine, repoProject } from '../project.js';

export default defineCommand({
  description: 'Check the server (GET /health), and say which project this directory is',
  details:
    "Prints the server's /health reply on stdout, then on stderr the project this directory's repository is to Koor and why " +
    '(`project: acme.shop (from the origin remote git@github.com:acme/shop.git)`): its origin remote, else its folder name; KOOR_PROJECT overrides it. ' +
    'The lease commands and the hooks use that project.',
  examples: [['Is the server up?', '$0 status']],
  positionals: [],
  options: {},
  async run({ ctx }) {
    const code = printReply(await request(ctx.config, 'GET', '/health'), ctx.pretty);
    writeErr(projectLine(repoProject(ctx.cwd)));
    return code;
  },
});
