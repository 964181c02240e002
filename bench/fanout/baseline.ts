/**
 * The bare-uWS baseline of bench/events.ts, run as its own process:
 *   node dist/bench/fanout/baseline.js [--max-backpressure BYTES]
 *
 * The smallest comparable work per publish, with uWS's own pub/sub:
 *   WS   /api/events/subscribe   every socket subscribes to one topic (the query is ignored);
 *                                compression off, same idle timeout and pings as koor, and a slow
 *                                socket is closed by uWS once it holds more than
 *                                --max-backpressure bytes (closeOnBackpressureLimit)
 *   POST /api/events/publish     body parsed with JSON.parse, `topic` required, an Event JSON of
 *                                koor's shape built in memory (id counter, NOT stored anywhere),
 *                                `app.publish`ed to the topic and sent back as the reply
 *   GET  /api/metrics            {"last_event_id", "events":{"subscribers","closed","closed_codes"}}
 * Logs `{"api":"127.0.0.1:<port>"}` on stderr once listening (what bench/lib.ts waits for).
 * Loopback only. Refuses to run on the slow JS fallback of uWebSockets.js.
 */
import uWS from 'uWebSockets.js';

const TOPIC = 'events';
const JSON_TYPE = 'application/json';
const MAX_BODY = 10 * 1024 * 1024;

if (typeof (uWS as unknown as { getParts?: unknown }).getParts !== 'function') {
  process.stderr.write('events-baseline: native uWebSockets.js binary not loaded; refusing the slow fallback\n');
  process.exit(1);
}

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`events-baseline: bad --${name}\n`);
    process.exit(2);
  }
  return v;
}

const maxBackpressure = flag('max-backpressure', 64 * 1024 + 64 * 1024);

let lastId = 0;
let subscribers = 0;
let closed = 0;
const closedCodes: Record<string, number> = {};

/** Same text shape as koor's created_at (RFC 3339 UTC, whole seconds), refreshed once a second. */
let nowText = `${new Date().toISOString().slice(0, 19)}Z`;
setInterval(() => {
  nowText = `${new Date().toISOString().slice(0, 19)}Z`;
}, 1000).unref();

function fail(res: uWS.HttpResponse, status: string, message: string, code: number): void {
  res.cork(() => {
    res.writeStatus(status);
    res.writeHeader('Content-Type', JSON_TYPE);
    res.end(`${JSON.stringify({ error: message, code })}\n`);
  });
}

const app = uWS.App();

app.ws(`/api/events/subscribe`, {
  compression: 0,
  maxPayloadLength: 4 * 1024,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  maxBackpressure,
  closeOnBackpressureLimit: 1,
  open: (ws) => {
    ws.subscribe(TOPIC);
    subscribers++;
  },
  message: () => {},
  close: (_ws, code) => {
    subscribers--;
    closed++;
    closedCodes[code] = (closedCodes[code] ?? 0) + 1;
  },
});

app.post('/api/events/publish', (res) => {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const chunks: Buffer[] = [];
  let total = 0;
  res.onData((ab, isLast) => {
    if (aborted) return;
    try {
      total += ab.byteLength;
      if (total > MAX_BODY) {
        aborted = true;
        return fail(res, '413 Payload Too Large', 'body too large', 413);
      }
      if (ab.byteLength > 0) chunks.push(Buffer.from(ab.slice(0)));
      if (!isLast) return;
      let body: { topic?: unknown; data?: unknown; source?: unknown };
      try {
        body = JSON.parse((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)).toString('utf8')) as typeof body;
      } catch {
        return fail(res, '400 Bad Request', 'invalid JSON body', 400);
      }
      if (typeof body.topic !== 'string' || body.topic === '') return fail(res, '400 Bad Request', 'topic is required', 400);
      const source = typeof body.source === 'string' ? body.source : '';
      const json = `{"id":${++lastId},"topic":${JSON.stringify(body.topic)},"data":${body.data === undefined ? 'null' : JSON.stringify(body.data)},"source":${JSON.stringify(source)},"created_at":"${nowText}"}`;
      app.publish(TOPIC, json, false, false);
      res.cork(() => {
        res.writeStatus('200 OK');
        res.writeHeader('Content-Type', JSON_TYPE);
        res.end(`${json}\n`);
      });
    } catch (err) {
      fail(res, '500 Internal Server Error', String(err), 500);
    }
  });
});

app.get('/api/metrics', (res) => {
  res.cork(() => {
    res.writeStatus('200 OK');
    res.writeHeader('Content-Type', JSON_TYPE);
    res.end(`${JSON.stringify({ last_event_id: lastId, events: { subscribers, closed, closed_codes: closedCodes, uws_subscribers: app.numSubscribers(TOPIC) } })}\n`);
  });
});

app.any('/*', (res) => fail(res, '404 Not Found', 'not found', 404));

app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) {
    process.stderr.write('events-baseline: cannot listen on 127.0.0.1\n');
    process.exit(1);
  }
  const bound = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
  process.stderr.write(`${JSON.stringify({ msg: 'events-baseline listening', api: `127.0.0.1:${bound}`, pid: process.pid, maxBackpressure })}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
