import { call, CliError, defineCommand, readFileArg } from '../core.js';

export default defineCommand({
  description: 'Import rules from a JSON file (an array of rules)',
  details: 'Each rule is added or updated as accepted. Rules without project, rule_id or pattern are skipped; source defaults to `external`.',
  examples: [['Import an export of another server', '$0 rules import --file rules.json']],
  positionals: [],
  options: {
    file: { description: 'JSON file holding an array of rules', required: true },
  },
  async run({ opt, ctx }) {
    const body = readFileArg(opt.file);
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new CliError(`invalid JSON in ${opt.file}: ${(e as Error).message}`);
    }
    if (!Array.isArray(value)) throw new CliError(`invalid JSON in ${opt.file}: expected an array of rules, got ${value === null ? 'null' : typeof value}`);
    return call(ctx, 'POST', '/api/rules/import', { body });
  },
});
