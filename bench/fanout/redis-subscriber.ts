/**
 * Redis pub/sub subscribers for bench/suites/speed.ts's fan-out reference, as their own process:
 *   node dist/bench/fanout/redis-subscriber.js <redis port> <channel> <count>
 *
 * Opens `count` connections to a loopback redis-server, SUBSCRIBEs each to `channel` and counts
 * the `message` pushes they receive by walking RESP headers (no per-message allocation, like the
 * raw WebSocket counter of ./subscriber.ts). GET /snap on a loopback control port answers
 * `{"subscribed":N,"messages":M}`. Logs `{"api":"127.0.0.1:<port>"}` on stderr once all are
 * subscribed (what bench/lib/processes.ts's spawnNode waits for).
 */
import http from 'node:http';
import net from 'node:net';

const [portText, channel = 'bench', countText = '100'] = process.argv.slice(2);
const redisPort = Number(portText);
const count = Number(countText);
let subscribed = 0;
let messages = 0;

/**
 * Counts pushes on one connection. Every push is a RESP array `*3` of bulk strings (kind,
 * channel, payload); the counter skips whole bulk strings by their declared length.
 */
function open(): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(redisPort, '127.0.0.1');
    let pending: Buffer | null = null;
    /** At the first bulk string of a push (its kind: `message` or `subscribe`). */
    let first = true;
    let confirmed = false;
    sock.on('connect', () => sock.write(`SUBSCRIBE ${channel}\r\n`));
    sock.on('error', reject);
    sock.on('data', (chunk: Buffer) => {
      const b = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      let i = 0;
      while (i < b.length) {
        const eol = b.indexOf(13, i); // '\r'
        if (eol < 0 || eol + 1 >= b.length) break;
        const type = b[i];
        if (type === 0x2a) {
          // *3: a push starts
          first = true;
          i = eol + 2;
        } else if (type === 0x24) {
          // $<len>\r\n<bytes>\r\n
          const len = Number(b.toString('latin1', i + 1, eol));
          const end = eol + 2 + len + 2;
          if (end > b.length) break;
          if (first && len === 7) messages++; // "message" (the confirmation's kind is "subscribe", 9)
          first = false;
          i = end;
        } else if (type === 0x3a) {
          // :1 — the subscription count closes the confirmation
          i = eol + 2;
          if (!confirmed) {
            confirmed = true;
            subscribed++;
            resolve();
          }
        } else {
          sock.destroy();
          reject(new Error(`unexpected RESP byte ${type}`));
          return;
        }
      }
      if (i < b.length) pending = Buffer.from(b.subarray(i));
    });
  });
}

for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, open));
const control = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ subscribed, messages }));
});
control.listen(0, '127.0.0.1', () => {
  process.stderr.write(`${JSON.stringify({ api: `127.0.0.1:${(control.address() as net.AddressInfo).port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
