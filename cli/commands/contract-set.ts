import { BODY_OPTIONS, CliError, bodyFrom, call, defineCommand, projectName, seg } from '../core.js';

export default defineCommand({
  description: 'Store an API contract (a spec with "kind": "contract")',
  details: 'The JSON is checked locally first: it must parse and have `"kind": "contract"`. Stored with PUT /api/specs/<project>/<name>.',
  examples: [['Store a contract', '$0 contract set web/trucks --file trucks.contract.json']],
  positionals: [{ name: 'project/name' }],
  options: { ...BODY_OPTIONS },
  async run({ pos, opt, ignored, ctx }) {
    const { project, name } = projectName(pos['project/name']);
    const body = bodyFrom(opt, ignored);
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new CliError(`invalid JSON: ${(e as Error).message}`);
    }
    if (doc === null || typeof doc !== 'object' || (doc as { kind?: unknown }).kind !== 'contract') throw new CliError('JSON must have "kind": "contract"');
    return call(ctx, 'PUT', `/api/specs/${seg(project)}/${seg(name)}`, { body });
  },
});
