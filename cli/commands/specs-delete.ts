import { call, defineCommand, projectName, seg } from '../core.js';

export default defineCommand({
  description: 'Delete a spec',
  positionals: [{ name: 'project/name' }],
  options: {},
  async run({ pos, ctx }) {
    const { project, name } = projectName(pos['project/name']);
    return call(ctx, 'DELETE', `/api/specs/${seg(project)}/${seg(name)}`);
  },
});
