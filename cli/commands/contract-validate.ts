import type { ContractValidateReply } from '../../schemas/http/contracts.js';
import { CliError, UsageError, defineCommand, projectName, readFileArg, request, seg, writeOut } from '../core.js';

export default defineCommand({
  description: 'Validate a payload against one endpoint of a contract',
  details:
    'Prints `PASS  <direction> <endpoint>`, or `FAIL  <direction> <endpoint>` and one `  - [<path>] <message>` line per violation. Exit 0 on PASS, 1 on FAIL or when the server refuses (its error JSON is printed).',
  examples: [
    ['Check a request body', `$0 contract validate web/trucks --endpoint 'POST /api/trucks' --payload '{"plate":"AB-12"}'`],
    ['Check a saved response', `$0 contract validate web/trucks --endpoint 'GET /api/trucks/{id}' --direction response --file reply.json`],
  ],
  positionals: [{ name: 'project/name' }],
  options: {
    endpoint: { description: 'The endpoint, "METHOD /path" as in the contract', required: true },
    direction: { description: 'request (default), response, query or error' },
    payload: { description: 'The payload, a JSON object' },
    file: { description: 'Read the payload from this file' },
  },
  async run({ pos, opt, ctx }) {
    const { project, name } = projectName(pos['project/name']);
    if (opt.payload !== undefined && opt.file !== undefined) throw new UsageError('use either --payload or --file, not both');
    const text = opt.file !== undefined ? readFileArg(opt.file).toString('utf8') : (opt.payload ?? '');
    let payload = '{}';
    if (text !== '') {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (e) {
        throw new CliError(`invalid payload JSON: ${(e as Error).message}`);
      }
      if (v !== null && (typeof v !== 'object' || Array.isArray(v))) throw new CliError(`invalid payload JSON: expected an object, got ${Array.isArray(v) ? 'an array' : typeof v}`);
      // Sent as written: numbers and member order are the caller's.
      payload = text;
    }
    const direction = opt.direction ?? 'request';
    const body = `{"endpoint":${JSON.stringify(opt.endpoint)},"direction":${JSON.stringify(direction)},"payload":${payload}}`;
    const reply = await request(ctx.config, 'POST', `/api/contracts/${seg(project)}/${seg(name)}/validate`, { body });
    if (reply.status !== 200) {
      writeOut(reply.body);
      return 1;
    }
    let result: Partial<ContractValidateReply>;
    try {
      result = JSON.parse(reply.body.toString('utf8')) as typeof result;
    } catch (e) {
      throw new CliError(`invalid reply from the server: ${(e as Error).message}`);
    }
    if (result.valid === true) {
      writeOut(`PASS  ${direction} ${opt.endpoint}\n`);
      return 0;
    }
    let out = `FAIL  ${direction} ${opt.endpoint}\n`;
    for (const v of result.violations ?? []) out += `  - [${v.path}] ${v.message}\n`;
    writeOut(out);
    return 1;
  },
});
