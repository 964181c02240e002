import { defineCommand, formatBody, projectName, request, seg, writeOut } from '../core.js';

export default defineCommand({
  description: 'Print a contract (always pretty-printed)',
  examples: [['Read a contract', '$0 contract get web/trucks']],
  positionals: [{ name: 'project/name' }],
  options: {},
  async run({ pos, ctx }) {
    const { project, name } = projectName(pos['project/name']);
    const reply = await request(ctx.config, 'GET', `/api/specs/${seg(project)}/${seg(name)}`);
    // Anything but 200: the body as it came, exit 1.
    if (reply.status !== 200) {
      writeOut(reply.body);
      return 1;
    }
    writeOut(formatBody(reply.body, 'application/json', true));
    return 0;
  },
});
