import { call, CliError, defineCommand, readFileArg } from '../core.js';

export default defineCommand({
  description: 'Create a template from a JSON file',
  details: 'The file is sent as the template data, unchanged (it must be JSON). A `rules` template holds an array of rules; other kinds hold any JSON (a contract, a bundle). Tags are comma-separated.',
  examples: [
    ['A rules template', '$0 templates create --id go-rules --name "Go rules" --file rules.json --tags go,backend'],
    ['A contract template', '$0 templates create --id users-api --name "Users API" --kind contracts --file contract.json'],
  ],
  positionals: [],
  options: {
    id: { description: 'Template id (unique)', required: true },
    name: { description: 'Display name', required: true },
    kind: { description: 'rules (default), contracts, bundle, …' },
    file: { description: 'JSON file holding the template data', required: true },
    tags: { description: 'Comma-separated tags, e.g. "go,backend"' },
  },
  async run({ opt, ctx }) {
    const text = readFileArg(opt.file).toString('utf8');
    try {
      JSON.parse(text);
    } catch (e) {
      throw new CliError(`invalid JSON in ${opt.file}: ${(e as Error).message}`);
    }
    const tags = (opt.tags ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
    // The file's text is spliced in as is: number spelling and member order reach the server intact.
    const body = `{"id":${JSON.stringify(opt.id)},"name":${JSON.stringify(opt.name)},"kind":${JSON.stringify(opt.kind ?? 'rules')},"data":${text.trim()},"tags":${JSON.stringify(tags)}}`;
    return call(ctx, 'POST', '/api/templates', { retrySafe: true, body });
  },
});
