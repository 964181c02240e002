import { call, defineCommand, projectName, seg } from '../core.js';

export default defineCommand({
  description: 'Print a spec (raw bytes)',
  examples: [['Read a spec', '$0 specs get web/api-schema --pretty']],
  positionals: [{ name: 'project/name' }],
  options: {},
  async run({ pos, ctx }) {
    const { project, name } = projectName(pos['project/name']);
    return call(ctx, 'GET', `/api/specs/${seg(project)}/${seg(name)}`);
  },
});
