import { BODY_OPTIONS, bodyFrom, call, defineCommand, projectName, seg } from '../core.js';

export default defineCommand({
  description: 'Write a spec',
  examples: [['Store a schema', '$0 specs set web/api-schema --file schema.json']],
  positionals: [{ name: 'project/name' }],
  options: { ...BODY_OPTIONS },
  async run({ pos, opt, ignored, ctx }) {
    const { project, name } = projectName(pos['project/name']);
    return call(ctx, 'PUT', `/api/specs/${seg(project)}/${seg(name)}`, { body: bodyFrom(opt, ignored) });
  },
});
