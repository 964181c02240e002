import { call, projectName } from '../lib/api.js';
import { defineCommand } from '../lib/command.js';
import { seg } from '../lib/http.js';

export default defineCommand({
  description: 'Delete a spec',
  positionals: [{ name: 'project/name' }],
  options: {},
  async run({ pos, ctx }) {
    const { project, name } = projectName(pos['project/name']);
    return call(ctx, 'DELETE', `/api/specs/${seg(project)}/${seg(name)}`);
  },
});
