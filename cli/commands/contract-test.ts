import type { ContractTestReply } from '../../schemas/http/contracts.js';
import { CliError, defineCommand, projectName, request, seg, writeOut } from '../core.js';

/** A 200 is a ContractTestReply; an error reply ({"error","code"}) has only `error` of it. */
type TestResult = Partial<ContractTestReply>;

export default defineCommand({
  description: 'Test a live backend against every endpoint of a contract',
  details:
    'Reads the contract, then asks the server to call `<target><path>` for each endpoint (by name) and check the status and reply. Prints `PASS  <endpoint> (status: N)` or `FAIL  …` with its violations, then `P/T endpoints PASS[, F FAIL]`. Exit 1 if any endpoint fails.',
  examples: [['Test a local backend', '$0 contract test web/trucks --target http://localhost:8080']],
  positionals: [{ name: 'project/name' }],
  options: {
    target: { description: 'Base URL of the backend', required: true },
  },
  async run({ pos, opt, ctx }) {
    const { project, name } = projectName(pos['project/name']);
    const spec = await request(ctx.config, 'GET', `/api/specs/${seg(project)}/${seg(name)}`);
    if (spec.status !== 200) {
      writeOut(spec.body);
      return 1;
    }
    let endpoints: string[];
    try {
      const doc = JSON.parse(spec.body.toString('utf8')) as { endpoints?: unknown };
      const eps = doc !== null && typeof doc === 'object' ? doc.endpoints : undefined;
      endpoints = eps !== null && typeof eps === 'object' && !Array.isArray(eps) ? Object.keys(eps).sort() : [];
    } catch (e) {
      throw new CliError(`parse contract: ${(e as Error).message}`);
    }
    const path = `/api/contracts/${seg(project)}/${seg(name)}/test`;
    let pass = 0;
    let fail = 0;
    for (const ep of endpoints) {
      let text: string;
      try {
        text = (await request(ctx.config, 'POST', path, { body: JSON.stringify({ endpoint: ep, base_url: opt.target }) })).body.toString('utf8');
      } catch (e) {
        writeOut(`FAIL  ${ep} (request error: ${(e as Error).message})\n`);
        fail++;
        continue;
      }
      let r: TestResult = {};
      try {
        r = JSON.parse(text) as TestResult;
      } catch {
        // not JSON: reported as a failure without details
      }
      if (r.valid === true) {
        writeOut(`PASS  ${ep} (status: ${r.status_code ?? 0})\n`);
        pass++;
        continue;
      }
      // An error reply ({"error","code"}) shows as its error line.
      let out = `FAIL  ${ep} (status: ${r.status_code ?? 0})\n`;
      if (r.error) out += `  - error: ${r.error}\n`;
      for (const v of r.request_violations ?? []) out += `  - [req] [${v.path}] ${v.message}\n`;
      for (const v of r.response_violations ?? []) out += `  - [resp] [${v.path}] ${v.message}\n`;
      writeOut(out);
      fail++;
    }
    writeOut(`\n${pass}/${pass + fail} endpoints PASS${fail > 0 ? `, ${fail} FAIL` : ''}\n`);
    return fail > 0 ? 1 : 0;
  },
});
