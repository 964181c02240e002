/**
 * A webhook receiver for bench/suites/http.ts's operations-cost runs, as its own process:
 *   node dist/bench/http/webhook-receiver.js
 * Answers every POST with 204 once its body is in, counts deliveries, and serves the count at
 * GET /count. Logs `{"api":"127.0.0.1:<port>"}` on stderr once listening. Loopback only.
 *
 * It stands in for another machine, so on this one it must cost as little as it can: uWS (about
 * a fifth of node:http's CPU per request) at nice 19. Its own cost is not koor's.
 */
import os from 'node:os';
import uWS from 'uWebSockets.js';

os.setPriority(19);

let deliveries = 0;
const app = uWS.App();
app.get('/count', (res) => {
  res.cork(() => {
    res.writeHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ deliveries }));
  });
});
app.post('/*', (res) => {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  res.onData((_chunk, last) => {
    if (!last || aborted) return;
    deliveries++;
    res.cork(() => {
      res.writeStatus('204 No Content');
      res.endWithoutBody();
    });
  });
});
app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) {
    process.stderr.write('webhook-receiver: cannot listen\n');
    process.exit(1);
  }
  process.stderr.write(`${JSON.stringify({ api: `127.0.0.1:${uWS.us_socket_local_port(socket)}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
