/**
 * A webhook receiver for bench/http.ts's operations-cost runs, as its own process:
 *   node dist/bench/webhook-receiver.js
 * Answers every POST with 204 after reading the body, counts deliveries, and serves the count at
 * GET /count. Runs at nice 19. Logs `{"api":"127.0.0.1:<port>"}` on stderr once listening. Loopback only.
 */
import http from 'node:http';
import os from 'node:os';

// The receiver stands in for another machine: on this one it must not take the server's CPU
// (its own cost is not koor's). Lowest priority; the bench notes it.
os.setPriority(19);

let deliveries = 0;
const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ deliveries }));
    return;
  }
  req.resume();
  req.on('end', () => {
    deliveries++;
    res.writeHead(204).end();
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stderr.write(`${JSON.stringify({ api: `127.0.0.1:${(server.address() as { port: number }).port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
