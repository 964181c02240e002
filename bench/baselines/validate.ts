/**
 * The inline baseline of bench/suites/validate.ts, run as its own process:
 *   node dist/bench/baselines/validate.js <rules.json> [port]
 *
 * A bare uWS server that evaluates the same rules with the same code as koor's pool workers
 * (workers/pool/validate.ts checkRule), but on its main thread, as a server without a pool would:
 *   POST /api/validate/{project}  {"content"} → {"project","violations","count"}
 *   GET  /health                  {"status":"ok"}
 * Logs `{"api":"127.0.0.1:<port>"}` on stderr once listening. Loopback only.
 */
import fs from 'node:fs';
import uWS from 'uWebSockets.js';
import type { ValidateRule, Violation } from '../../schemas/rpc/pool.js';
import { checkRule } from '../../workers/pool/validate.js';

const rules = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as ValidateRule[];
const port = Number(process.argv[3] ?? 0);

function reply(res: uWS.HttpResponse, body: string): void {
  res.cork(() => {
    res.writeHeader('Content-Type', 'application/json');
    res.end(body);
  });
}

const app = uWS.App();
app.get('/health', (res) => reply(res, '{"status":"ok","uptime":"0s"}\n'));
app.post('/api/validate/:project', (res, req) => {
  const project = req.getParameter(0) ?? '';
  const chunks: Buffer[] = [];
  let aborted = false;
  res.onAborted(() => (aborted = true));
  res.onData((ab, last) => {
    chunks.push(Buffer.from(ab.slice(0)));
    if (!last || aborted) return;
    try {
      const { content = '' } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { content?: string };
      const lines = content.split('\n');
      const violations: Violation[] = [];
      for (const r of rules) checkRule(r, content, lines, violations);
      reply(res, `${JSON.stringify({ project, violations, count: violations.length })}\n`);
    } catch (e) {
      res.cork(() => res.writeStatus('400 Bad Request').end(JSON.stringify({ error: (e as Error).message, code: 400 })));
    }
  });
});
app.listen('127.0.0.1', port, (socket) => {
  if (!socket) {
    process.stderr.write(`baseline-validate: cannot listen on 127.0.0.1:${port}\n`);
    process.exit(1);
  }
  const bound = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
  process.stderr.write(`${JSON.stringify({ msg: 'baseline-validate listening', api: `127.0.0.1:${bound}`, pid: process.pid })}\n`);
});
